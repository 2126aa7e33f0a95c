//! The models a database has seen, for `gateway pricing` to list the ones without a price.

use super::{QueryResult, Reader};

impl Reader {
    /// Every model named in the database, requested (`traces.model`) or served
    /// (`gen_ai.response.model` on a span), with the number of traces or spans naming it,
    /// most frequent first.
    pub fn models_seen(&self) -> QueryResult<Vec<(String, i64)>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT m, SUM(n) AS n FROM (
                    SELECT model AS m, COUNT(*) AS n FROM traces
                    WHERE model IS NOT NULL AND model <> '' GROUP BY model
                    UNION ALL
                    SELECT json_extract(attributes, '$.\"gen_ai.response.model\"') AS m,
                           COUNT(*) AS n
                    FROM spans WHERE kind = 'client' AND m IS NOT NULL GROUP BY m
                 ) GROUP BY m ORDER BY n DESC, m",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}
