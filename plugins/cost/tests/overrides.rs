//! Operator prices without a rebuild: `[pricing] models`, `aliases`, `file` and `[[pricing.rows]]`.

#![allow(clippy::unwrap_used)]

mod common;

use common::{at, call, close, cost, dec, pp_str};
use gateway_cost::{PriceBook, PricingConfig, TokenCostPlugin, render_table};
use gateway_plugin_sdk::prelude::*;
use gateway_plugin_sdk::semconv as sc;
use std::io::Write;

fn config(toml_text: &str) -> PricingConfig {
    toml::from_str(toml_text).unwrap()
}

fn price_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn file_and_inline_rows_win_over_the_shipped_table() {
    let file = price_file(
        r#"
        [[rows]]
        model = "gemini-3.8-flash"
        effective_from = "2026-06-01"
        input = 0.50
        output = 3.00
        source = "our contract, 2026-06"

        [[rows]]
        model = "acme-tuned"
        input = 1.0
        output = 2.0
        "#,
    );
    let path = file.path().display().to_string();
    let cfg = config(&format!(
        r#"
        file = {path:?}
        [[rows]]
        model = "acme-tuned"
        input = 3.0
        output = 4.0
        "#
    ));
    let plugin = TokenCostPlugin::try_new(&cfg).unwrap();
    let u = Usage {
        prompt_tokens: 1_000_000,
        candidates_tokens: 1_000_000,
        ..Usage::default()
    };
    // The file's dated row beats the shipped "always" row: $0.50 + $3.00 = $3.50.
    let out = call("gemini-3.8-flash", u).run(&plugin);
    close(cost(&out), 3.5);
    assert_eq!(
        pp_str(&out, sc::GATEWAY_COST_SOURCE).as_deref(),
        Some("our contract, 2026-06")
    );
    // ...until the shipped 2027-01-01 row, which is later: $1.50 + $7.50 = $9.
    let mut c = call("gemini-3.8-flash", u);
    c.started_at = at("2027-03-01T00:00:00Z");
    close(cost(&c.run(&plugin)), 9.0);
    // The inline row replaces the file's row of the same (model, tier, date): $3 + $4 = $7.
    let out = call("acme-tuned-001", u).run(&plugin);
    close(cost(&out), 7.0);
    assert_eq!(
        pp_str(&out, sc::GATEWAY_COST_SOURCE).as_deref(),
        Some("gateway.toml")
    );
}

#[test]
fn models_entries_and_aliases_still_work() {
    let cfg = config(
        r#"
        [models."gemini-9-ultra"]
        input = 1.0
        output = 2.0
        [models."gemini-3.8-flash"]
        input = 0.2
        output = 0.4
        [aliases]
        "tunedModels/my-tune" = "gemini-9-ultra"
        "#,
    );
    let plugin = TokenCostPlugin::new(&cfg);
    let u = Usage {
        prompt_tokens: 1_000_000,
        candidates_tokens: 1_000_000,
        ..Usage::default()
    };
    close(cost(&call("gemini-9-ultra", u).run(&plugin)), 3.0);
    close(cost(&call("tunedModels/my-tune", u).run(&plugin)), 3.0);
    // A models entry is in force always: it replaces the dated 2027 row too. $0.2 + $0.4.
    let mut c = call("gemini-3.8-flash-001", u);
    c.started_at = at("2027-03-01T00:00:00Z");
    close(cost(&c.run(&plugin)), 0.6);
    let table = render_table(plugin.book(), dec());
    assert!(
        table.contains("alias tunedModels/my-tune -> gemini-9-ultra"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("gemini-9-ultra ") && l.contains("gateway.toml"))
    );
}

#[test]
fn bad_rows_are_rejected_naming_the_row() {
    let err = |text: &str| config(text).build().unwrap_err();
    let e = err(r#"
        [[rows]]
        model = "ok-model"
        input = 1.0
        output = 1.0
        [[rows]]
        model = "bad-model"
        tier = "turbo"
        input = 1.0
        output = 1.0
        "#);
    assert!(
        e.starts_with(r#"pricing.rows[1] (model "bad-model", tier "turbo"): unknown tier"#),
        "{e}"
    );
    let e = err("[[rows]]\nmodel = \"m\"\ninput = -0.5\noutput = 1.0\n");
    assert_eq!(
        e,
        r#"pricing.rows[0] (model "m"): input = -0.5 is negative or not finite"#
    );
    let e = err(
        "[[rows]]\nmodel = \"m\"\neffective_from = \"2027-13-01\"\ninput = 1.0\noutput = 1.0\n",
    );
    assert!(
        e.contains("pricing.rows[0]") && e.contains("2027-13-01"),
        "{e}"
    );
    let e = err("[models.\"m\"]\ninput = inf\noutput = 1.0\n");
    assert!(e.starts_with("pricing.models.\"m\": input = inf"), "{e}");
    // A bad row in a file names the file and the row; so does a parse error.
    let file = price_file("[[rows]]\nmodel = \"f\"\ninput = 1.0\noutput = nan\n");
    let e = err(&format!("file = {:?}", file.path().display().to_string()));
    assert!(
        e.contains("pricing.file") && e.contains("rows[0] (model \"f\"): output = NaN"),
        "{e}"
    );
    let file = price_file("[[rows]]\nmodel = \"f\"\ninput = 1.0\noutput = 1.0\nprice = 3\n");
    let e = err(&format!("file = {:?}", file.path().display().to_string()));
    assert!(e.contains("pricing.file") && e.contains("price"), "{e}");
    // Unknown keys in [pricing] itself are refused by serde.
    assert!(toml::from_str::<PricingConfig>("prices = 1").is_err());
    // The lenient constructor keeps the valid part: the shipped table is still there.
    let cfg = config("[[rows]]\nmodel = \"m\"\ninput = -1.0\noutput = 1.0\n");
    let lenient = TokenCostPlugin::new(&cfg);
    assert!(lenient.book().is_priced("gemini-3.8-flash", dec()));
    assert!(!lenient.book().is_priced("m", dec()));
    assert!(TokenCostPlugin::try_new(&cfg).is_err());
}

#[test]
fn is_priced_follows_dates() {
    let cfg = config(
        "[[rows]]\nmodel = \"later\"\neffective_from = \"2027-01-01\"\ninput = 1.0\noutput = 1.0\n",
    );
    let book: PriceBook = cfg.build().unwrap();
    assert!(!book.is_priced("later", at("2026-12-31T23:59:59Z")));
    assert!(book.is_priced("later", at("2027-01-01T00:00:00Z")));
    let err = book
        .try_lookup("later", "standard", at("2026-12-31T23:59:59Z"))
        .unwrap_err();
    assert_eq!(err, "no price in force for later on 2026-12-31");
    // A bare TOML date works as well as a quoted one; integer rates are fine.
    let native =
        config("[[rows]]\nmodel = \"later\"\neffective_from = 2027-01-01\ninput = 1\noutput = 1\n");
    assert_eq!(native.build().unwrap(), book);
}
