// Unit tests of money, duration and other display formatting.
import { describe, expect, it } from 'vitest'
import { formatBurnRate, formatCost, formatCount, formatDuration, formatMetric, formatMoney, formatTime, formatTokens, shortId, toEpochMs } from './format'

describe('formatCost', () => {
  it('tells an unpriced cost from none yet, and never shows either as $0', () => {
    expect(formatCost(null, true)).toBe('unpriced')
    expect(formatCost(null, false)).toBe('—')
    expect(formatCost(undefined, false)).toBe('—')
    expect(formatCost(0.5, true)).toBe('$0.50')
    expect(formatCost(0, false)).toBe('$0.00')
  })
})

describe('formatMoney', () => {
  it('never shows an unpriced cost as $0', () => {
    expect(formatMoney(null)).toBe('unpriced')
    expect(formatMoney(undefined)).toBe('unpriced')
    expect(formatBurnRate(null)).toBe('unpriced')
  })
  it('formats dollars with two decimals and separators', () => {
    expect(formatMoney(1.23)).toBe('$1.23')
    expect(formatMoney(1)).toBe('$1.00')
    expect(formatMoney(1234.5)).toBe('$1,234.50')
    expect(formatMoney(12.345)).toBe('$12.35')
  })
  it('keeps three significant digits below a dollar', () => {
    expect(formatMoney(0.000123)).toBe('$0.000123')
    expect(formatMoney(0.0001234)).toBe('$0.000123')
    expect(formatMoney(0.0012345)).toBe('$0.00123')
    expect(formatMoney(0.123)).toBe('$0.123')
    expect(formatMoney(0.5)).toBe('$0.50')
    expect(formatMoney(0.05)).toBe('$0.05')
    expect(formatMoney(0.1)).toBe('$0.10')
    expect(formatMoney(0.0000303)).toBe('$0.00003')
  })
  it('rounds up to a dollar at the boundary', () => {
    expect(formatMoney(0.9996)).toBe('$1.00')
  })
  it('shows tiny positive amounts as below the smallest unit', () => {
    expect(formatMoney(0.0000009)).toBe('<$0.000001')
    expect(formatMoney(1e-12)).toBe('<$0.000001')
    expect(formatMoney(0.000001)).toBe('$0.000001')
  })
  it('shows a real zero as $0.00 and handles odd input', () => {
    expect(formatMoney(0)).toBe('$0.00')
    expect(formatMoney(Number.NaN)).toBe('—')
    expect(formatMoney(-1.5)).toBe('-$1.50')
  })
  it('formats burn rates per hour', () => {
    expect(formatBurnRate(0.42)).toBe('$0.42/h')
  })
})

describe('formatDuration', () => {
  it('uses microseconds below a millisecond', () => {
    expect(formatDuration(0.85)).toBe('850 µs')
    expect(formatDuration(0.0004)).toBe('0 µs')
    expect(formatDuration(0)).toBe('0 µs')
    expect(formatDuration(0.001)).toBe('1 µs')
  })
  it('uses milliseconds with three significant digits', () => {
    expect(formatDuration(12.34)).toBe('12.3 ms')
    expect(formatDuration(1.234)).toBe('1.23 ms')
    expect(formatDuration(850)).toBe('850 ms')
    expect(formatDuration(0.9996)).toBe('1.00 ms')
  })
  it('keeps three significant digits where rounding crosses a power of ten', () => {
    expect(formatDuration(9.996)).toBe('10.0 ms')
    expect(formatDuration(99.96)).toBe('100 ms')
    expect(formatDuration(9996)).toBe('10.0 s')
  })
  it('uses seconds, then minutes and hours', () => {
    expect(formatDuration(1250)).toBe('1.25 s')
    expect(formatDuration(999.7)).toBe('1.00 s')
    expect(formatDuration(12_345)).toBe('12.3 s')
    expect(formatDuration(59_960)).toBe('1m 00s')
    expect(formatDuration(123_000)).toBe('2m 03s')
    expect(formatDuration(3_720_000)).toBe('1h 02m')
  })
  it('shows missing values as a dash', () => {
    expect(formatDuration(null)).toBe('—')
    expect(formatDuration(undefined)).toBe('—')
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('—')
  })
})

describe('other formatting', () => {
  it('counts and tokens', () => {
    expect(formatCount(1234567)).toBe('1,234,567')
    expect(formatTokens(9999)).toBe('9,999')
    expect(formatTokens(12_345)).toBe('12.3k')
    expect(formatTokens(2_500_000)).toBe('2.5M')
    expect(formatTokens(null)).toBe('—')
  })
  it('guesses the unit of a timestamp', () => {
    const ms = 1_700_000_000_000
    expect(toEpochMs(ms * 1e6)).toBe(ms)
    expect(toEpochMs(ms * 1e3)).toBe(ms)
    expect(toEpochMs(ms)).toBe(ms)
    expect(toEpochMs(ms / 1e3)).toBe(ms)
  })
  it('formats metrics by unit', () => {
    expect(formatMetric('latency_ms', 1250)).toBe('1.25 s')
    expect(formatMetric('cost_usd', 0.000123)).toBe('$0.000123')
    expect(formatMetric('pii_matches', 3)).toBe('3')
    expect(formatMetric('latency_ms', null)).toBe('—')
  })
  it('shortens ids to their tail', () => {
    expect(shortId('01a20e624307bbddf555875101f924c7')).toBe('…01f924c7')
    expect(shortId('abc')).toBe('abc')
  })
})

describe('formatTime', () => {
  it('shows local time with milliseconds, and the date when not today', () => {
    const d = new Date(2024, 4, 6, 7, 8, 9, 12)
    expect(formatTime(d.getTime() * 1e6, d)).toBe('07:08:09.012')
    expect(formatTime(d.getTime() * 1e6, new Date(2024, 4, 7))).toBe('2024-05-06 07:08:09.012')
    expect(formatTime(null)).toBe('—')
  })
})
