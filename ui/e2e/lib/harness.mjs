// Test bookkeeping for the e2e script: named checks, a summary line `N passed, M failed`.
export const results = []

export async function check(name, fn) {
  const t = Date.now()
  try {
    await fn()
    results.push({ name, ok: true })
    console.log(`ok   ${name} (${Date.now() - t} ms)`)
  } catch (e) {
    results.push({ name, ok: false, error: e })
    console.log(`FAIL ${name} (${Date.now() - t} ms)\n     ${String(e?.stack ?? e).split('\n').slice(0, 6).join('\n     ')}`)
  }
}

export function skip(name, why) {
  results.push({ name, ok: true, skipped: true })
  console.log(`skip ${name}: ${why}`)
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg)
}

export function assertEq(actual, expected, msg) {
  if (actual !== expected) throw new Error(`${msg}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
}

export function summary() {
  const passed = results.filter((r) => r.ok && !r.skipped).length
  const skipped = results.filter((r) => r.skipped).length
  const failed = results.filter((r) => !r.ok).length
  return { passed, failed, line: `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}` }
}
