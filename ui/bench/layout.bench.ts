// Pure-function benchmarks (vitest bench): waterfall layout of a 500-span trace, and merging
// live traces into a 10k-row list.
import { bench, describe } from 'vitest'
import { layoutWaterfall } from '../src/lib/waterfall'
import { mergeTraces } from '../src/lib/live'
import type { Span, TraceSummary } from '../src/lib/types'
// @ts-expect-error plain JS fixture module
import { makeSpans, makeTraces } from './fixtures.mjs'

const spans = makeSpans(500) as Span[]
const traces = makeTraces(10_001) as TraceSummary[]
const list = traces.slice(1)

describe('waterfall', () => {
  bench('layout 500 spans', () => {
    layoutWaterfall(spans)
  })
  bench('layout 500 spans, one subtree collapsed', () => {
    layoutWaterfall(spans, new Set(['s2']))
  })
})

describe('live merge', () => {
  bench('merge 1 new trace into 10k rows', () => {
    mergeTraces(list, [traces[0]])
  })
  bench('merge a 500-row page into 10k rows', () => {
    mergeTraces(list, traces.slice(5000, 5500))
  })
})
