// API types: aliases of the schemas of the server's OpenAPI document (api.gen.ts, generated from
// ui/openapi.json by `npm run gen:api`, which `npm run build` runs first). Do not add fields
// here: a field the server does not send must fail the type check.

import type { components } from './api.gen'

type Schemas = components['schemas']

export type TraceSummary = Schemas['TraceSummary']
export type TracePage = Schemas['TracePage']
export type TraceDetail = Schemas['TraceDetail']
/** A span as `/api/traces/{trace_id}` sends it, in waterfall order. */
export type Span = Schemas['WaterfallSpan']
/** One of a span's `events`. The document describes them as objects (`{name, time_unix_nano,
 *  attributes}` in prose only), so their fields are read as `unknown`. */
export type SpanEvent = Span['events'][number]
export type MetricSnapshot = Schemas['MetricSnapshot']
export type SnapshotList = Schemas['SnapshotList']
export type LatencyReport = Schemas['LatencyReport']
export type LatencyGroup = Schemas['LatencyGroup']
export type CostReport = Schemas['CostReport']
export type CostGroup = Schemas['CostGroup']
export type CostPoint = Schemas['CostPoint']
export type DriftReport = Schemas['DriftReport']
export type DriftCorrelation = Schemas['DriftCorrelation']
export type DriftSnapshot = Schemas['DriftSnapshot']
export type WorstTrace = Schemas['WorstTrace']
/** The live feed's rolling statistics (`stats` messages, and `stats` of the snapshot). */
export type LiveStats = Schemas['LiveStats']
export type ErrorBody = Schemas['ErrorBody']
export type Health = Schemas['Health']

export type TraceStatus = TraceSummary['status']
