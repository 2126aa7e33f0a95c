// The overview page: live cost tracker, latency/TTFT percentile cards, latency and cost
// charts, cost breakdowns, recent breached snapshots and span-writer health.

import { useCallback, useMemo, useState } from 'react'
import { getJson, getText } from '../lib/api'
import { formatBurnRate, formatCount, formatDuration, formatMoney, toEpochMs } from '../lib/format'
import { gatewayHealth } from '../lib/prom'
import { finished, mergeTraces } from '../lib/live'
import { latencySeries, type LatencySeries } from '../lib/series'
import {
  EMPTY_HEADLINE,
  headlineFromCostHour,
  headlineFromCostToday,
  headlineFromLatency,
  headlineFromStats,
  utcMidnightNanos,
  type Headline,
} from '../lib/stats'
import type { TraceSummary } from '../lib/types'
import { usePoll } from '../hooks/usePoll'
import { useLiveClient, useLiveStats, useLiveTraces } from '../hooks/useLive'
import { Card } from '../components/Card'
import { TimeChart } from '../components/TimeChart'
import { ErrorNote } from '../components/ErrorNote'
import { CostBreakdown } from './overview/CostBreakdown'
import { BreachedList } from './overview/BreachedList'
import { HealthPanel } from './overview/HealthPanel'

const POLL_MS = 5000
const HOUR_MS = 3_600_000

export function Overview() {
  const [headline, setHeadline] = useState<Headline>(EMPTY_HEADLINE)
  const patch = useCallback((p: Partial<Headline>) => setHeadline((h) => ({ ...h, ...p })), [])
  useLiveStats((s) => patch(headlineFromStats(s)))

  const latency = usePoll(
    async (signal) => {
      const r = await getJson('/api/metrics/latency', { query: { window: '1h', group_by: 'model' }, signal })
      patch(headlineFromLatency(r))
      return r
    },
    POLL_MS,
    'latency',
  )
  const today = usePoll(
    async (signal) => {
      const r = await getJson('/api/metrics/cost', { query: { since: utcMidnightNanos(), bucket: '1h', group_by: 'model' }, signal })
      patch(headlineFromCostToday(r))
      return r
    },
    POLL_MS,
    'today',
  )
  const hour = usePoll(
    async (signal) => {
      const r = await getJson('/api/metrics/cost', { query: { window: '1h', bucket: '1m' }, signal })
      patch(headlineFromCostHour(r))
      return r
    },
    POLL_MS,
    'hour',
  )
  const burn = usePoll(
    (signal) => getJson('/api/metrics/cost', { query: { window: '10m', bucket: '10m' }, signal }),
    POLL_MS,
    'burn',
  )
  const health = usePoll(async (signal) => gatewayHealth(await getText('/metrics', signal)), POLL_MS, 'health')

  // Recent traces for the client-side latency series: the REST page plus live arrivals.
  const client = useLiveClient()
  const [live, setLive] = useState<TraceSummary[]>(() => client.recent)
  useLiveTraces((b) => setLive((cur) => mergeTraces(cur, b.traces).slice(0, 2000)))
  const recent = usePoll(
    (signal) =>
      getJson('/api/traces', { query: { since: `${Date.now() - HOUR_MS}000000`, limit: 500 }, signal }),
    10_000,
    'recent',
  )
  const series = useMemo(() => {
    const now = Date.now()
    // Running Live sessions have provisional durations: only finished traces make the series.
    const traces = finished(mergeTraces(recent.data?.traces ?? [], live))
    return {
      s: latencySeries(traces, now - HOUR_MS, now + 1, 60_000),
      ttft: latencySeries(traces, now - HOUR_MS, now + 1, 60_000, (t) => t.ttft_ms),
      n: traces.length,
    }
  }, [recent.data, live])
  const latencyLines = useMemo(() => percentileLines(series.s), [series])
  const ttftLines = useMemo(() => percentileLines(series.ttft), [series])
  const costX = useMemo(() => (hour.data?.series ?? []).map((p) => toSeconds(p.t)), [hour.data])
  const costLines = useMemo(
    () => [{ label: 'cost / min', color: '#81c784', values: (hour.data?.series ?? []).map((p) => p.usd) }],
    [hour.data],
  )

  const burnRate = burn.data ? burn.data.total_usd * 6 : null
  const unpriced = headline.unpricedToday
  const error = latency.error ?? today.error ?? hour.error

  return (
    <div className="overview">
      <ErrorNote error={error} />
      <section aria-labelledby="cost-h">
        <h2 id="cost-h">Cost</h2>
        <div className="cards">
          <Card testId="card-cost-today" label="Today (UTC)" value={headline.costToday === null ? '—' : formatMoney(headline.costToday)} raw={headline.costToday} hint="priced requests" />
          <Card testId="card-cost-hour" label="Last hour" value={headline.costHour === null ? '—' : formatMoney(headline.costHour)} raw={headline.costHour} />
          <Card testId="card-burn-rate" label="Burn rate" value={burnRate === null ? '—' : formatBurnRate(burnRate)} raw={burnRate} hint="last 10 min × 6" />
          <Card
            testId="card-unpriced"
            label="Unpriced today"
            value={unpriced === null ? '—' : formatCount(unpriced)}
            raw={unpriced}
            tone={unpriced ? 'warn' : 'normal'}
            hint={unpriced ? '⚠ cost unknown for these requests (not counted as $0)' : 'all requests priced'}
          />
          <Card testId="card-requests" label="Requests (1 h)" value={formatCount(headline.requestsHour)} raw={headline.requestsHour} hint={headline.errorsHour ? `${formatCount(headline.errorsHour)} errors` : undefined} tone={headline.errorsHour ? 'warn' : 'normal'} />
        </div>
      </section>
      <section aria-labelledby="lat-h">
        <h2 id="lat-h">Latency, last hour</h2>
        <div className="cards">
          <Card testId="card-p50" label="p50" value={formatDuration(headline.p50)} raw={headline.p50} />
          <Card testId="card-p95" label="p95" value={formatDuration(headline.p95)} raw={headline.p95} />
          <Card testId="card-p99" label="p99" value={formatDuration(headline.p99)} raw={headline.p99} />
          <Card testId="card-ttft-p50" label="TTFT p50" value={formatDuration(headline.ttftP50)} raw={headline.ttftP50} />
          <Card testId="card-ttft-p95" label="TTFT p95" value={formatDuration(headline.ttftP95)} raw={headline.ttftP95} />
          <Card testId="card-ttft-p99" label="TTFT p99" value={formatDuration(headline.ttftP99)} raw={headline.ttftP99} />
        </div>
      </section>
      <div className="grid3">
        <section className="panel" aria-labelledby="lat-chart-h">
          <h3 id="lat-chart-h">Latency per minute</h3>
          <p className="muted small">
            Computed in the browser from the {formatCount(series.n)} most recent traces of the last hour (nearest rank).
          </p>
          <TimeChart testId="chart-latency" x={series.s.t} series={latencyLines} format={(v) => formatDuration(v)} />
        </section>
        <section className="panel" aria-labelledby="ttft-chart-h">
          <h3 id="ttft-chart-h">Time to first token per minute</h3>
          <p className="muted small">Same traces; only those with a first token.</p>
          <TimeChart testId="chart-ttft" x={series.ttft.t} series={ttftLines} format={(v) => formatDuration(v)} />
        </section>
        <section className="panel" aria-labelledby="cost-chart-h">
          <h3 id="cost-chart-h">Cost per minute</h3>
          <p className="muted small">Priced requests of the last hour, from /api/metrics/cost.</p>
          <TimeChart testId="chart-cost" x={costX} series={costLines} format={(v) => formatMoney(v)} bars />
        </section>
      </div>
      <CostBreakdown today={today.data} since={utcMidnightNanos()} />
      <div className="grid2">
        <BreachedList />
        <HealthPanel health={health.data} error={health.error} />
      </div>
      {latency.data && latency.data.groups.length > 0 && (
        <section className="panel">
          <h3>Latency by model (1 h)</h3>
          <table className="simple">
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col" className="num">Requests</th>
                <th scope="col" className="num">p50</th>
                <th scope="col" className="num">p95</th>
                <th scope="col" className="num">p99</th>
              </tr>
            </thead>
            <tbody>
              {latency.data.groups.map((g) => (
                <tr key={g.key ?? '∅'}>
                  <td>{g.key ?? <span className="muted">(none)</span>}</td>
                  <td className="num">{formatCount(g.count)}</td>
                  <td className="num">{formatDuration(g.p50_ms)}</td>
                  <td className="num">{formatDuration(g.p95_ms)}</td>
                  <td className="num">{formatDuration(g.p99_ms)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </div>
  )
}

const toSeconds = (t: number) => toEpochMs(t) / 1000

function percentileLines(s: LatencySeries) {
  return [
    { label: 'p50', color: '#4fc3f7', values: s.p50 },
    { label: 'p95', color: '#ffb74d', values: s.p95 },
    { label: 'p99', color: '#ef5350', values: s.p99 },
  ]
}
