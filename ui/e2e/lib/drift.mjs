// Seeds one drift_snapshots row (the table a sibling drift detector writes) into the gateway's
// database with python3's sqlite3 module, so the e2e test can check the drift view. Returns
// false when python3 is not available (the check is then skipped).
import { spawnSync } from 'node:child_process'

const SCRIPT = `
import sqlite3, sys, time
db, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(db, timeout=10)
c.execute("""CREATE TABLE IF NOT EXISTS drift_snapshots (
    id INTEGER PRIMARY KEY, feature TEXT NOT NULL, score REAL NOT NULL, threshold REAL,
    drifted INTEGER NOT NULL, window_start_unix_nano INTEGER NOT NULL,
    window_end_unix_nano INTEGER NOT NULL, created_at_unix_nano INTEGER NOT NULL)""")
c.execute("INSERT INTO drift_snapshots (feature, score, threshold, drifted, window_start_unix_nano, window_end_unix_nano, created_at_unix_nano) VALUES ('prompt_length', 0.42, 0.2, 1, ?, ?, ?)", (start, end, time.time_ns()))
c.commit()
`

export function seedDrift(db, startNs, endNs) {
  const r = spawnSync('python3', ['-c', SCRIPT, db, String(startNs), String(endNs)], { encoding: 'utf8' })
  if (r.error && r.error.code === 'ENOENT') return false
  if (r.status !== 0) throw new Error(`seeding drift_snapshots failed: ${r.stderr || r.error}`)
  return true
}
