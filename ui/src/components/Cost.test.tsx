// Unit tests of the cost cell: a price, an unpriced warning (never "$0"), and "—" for a request
// that had nothing to price (deferred, free, no usage).
import { describe, expect, it } from 'vitest'
import { renderToStaticMarkup } from 'react-dom/server'
import { Cost } from './Cost'

const text = (html: string) => html.replace(/<[^>]*>/g, '')

describe('Cost', () => {
  it('shows the amount when priced', () => {
    expect(text(renderToStaticMarkup(<Cost usd={0.0123} unpriced={false} />))).toBe('$0.0123')
  })
  it('warns when the request was metered but not priced', () => {
    expect(text(renderToStaticMarkup(<Cost usd={null} unpriced />))).toBe('⚠ unpriced')
    // Without the flag (aggregates, drift rows) a missing cost is still a warning.
    expect(text(renderToStaticMarkup(<Cost usd={null} />))).toBe('⚠ unpriced')
  })
  it('shows a dash when there was nothing to price', () => {
    const html = renderToStaticMarkup(<Cost usd={null} unpriced={false} />)
    expect(text(html)).toBe('—')
    expect(html).not.toContain('$0')
  })
})
