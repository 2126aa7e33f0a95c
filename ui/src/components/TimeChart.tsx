// A uPlot time-series chart that follows its container's width. `x` is unix seconds; each
// series is one line. Value formatting (ms, $) is passed in.

import { useEffect, useRef } from 'react'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

export interface ChartSeries {
  label: string
  color: string
  values: Array<number | null>
  dash?: number[]
}

interface Props {
  x: number[]
  series: ChartSeries[]
  height?: number
  format: (v: number) => string
  testId?: string
  /** Draw bars instead of lines (for per-bucket sums). */
  bars?: boolean
}

export function TimeChart({ x, series, height = 220, format, testId, bars }: Props) {
  const host = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  const shape = series.map((s) => s.label).join('|') + (bars ? ':bars' : '')
  const formatRef = useRef(format)
  useEffect(() => {
    formatRef.current = format
  })

  useEffect(() => {
    const el = host.current
    if (!el) return
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      scales: { x: { time: true } },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      axes: [
        { stroke: '#8a94a6', grid: { stroke: '#2a3140' }, ticks: { stroke: '#2a3140' } },
        {
          stroke: '#8a94a6',
          grid: { stroke: '#2a3140' },
          ticks: { stroke: '#2a3140' },
          size: 70,
          values: (_u, vals) => vals.map((v) => (v === null ? '' : formatRef.current(v))),
        },
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          dash: s.dash,
          fill: bars ? s.color + '66' : undefined,
          paths: bars ? uPlot.paths.bars?.({ size: [0.8, 40] }) : undefined,
          spanGaps: false,
          points: { show: !bars },
          value: (_u: uPlot, v: number | null) => (v === null ? '—' : formatRef.current(v)),
        })),
      ],
    }
    const u = new uPlot(opts, [[], ...series.map(() => [])] as uPlot.AlignedData, el)
    plot.current = u
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }))
    ro.observe(el)
    return () => {
      ro.disconnect()
      u.destroy()
      plot.current = null
    }
    // The chart is rebuilt only when its series change shape; data updates use setData.
  }, [shape, height])

  useEffect(() => {
    plot.current?.setData([x, ...series.map((s) => s.values)] as uPlot.AlignedData)
  }, [x, series, shape])

  return <div ref={host} className="chart" data-testid={testId} />
}
