//! 店铺装修 (REQUIREMENTS J1, J2): store owners compose the homepage and landing pages from
//! the active theme's sections, preview the draft, publish it, and roll back to any version
//! published before. The example of `handle-http` with the `pages` capability (routes
//! `mount`ed on the storefront, sections checked by the theme) and `pictures` (an upload
//! route).
//!
//! A page is `home` or a landing page's slug (1 to 40 of `a-z0-9-`, not starting with `-`,
//! not `preview`). The storefront draws what the mounted routes answer, a [`PageLayout`]:
//!
//! | route | mount | roles | what |
//! | --- | --- | --- | --- |
//! | `GET /home` | `/` | public (kept 60 s) | the published homepage; 404 `not_published` leaves the kernel's own |
//! | `GET /landing/{slug}` | `/pages/{slug}` | public (kept 60 s) | a published landing page; 404 `not_published` or `page_not_found` |
//! | `GET /preview/{page}` | `/pages/preview/{page}` | admin | the draft, `draft: true` (the homepage with none: what is published, else empty) |
//! | `GET /pages` | | admin | `{pages: [{page, title, published_version, published_at_ms, draft_changed_at_ms}]}`, `home` first, at most 100 |
//! | `GET /pages/{page}` | | admin | the editor's state: `{page, draft, draft_changed_at_ms, published, versions (newest 20), section_types}` |
//! | `PUT /pages/{page}/draft` | | admin | save the draft (a `PageLayout`), checked; answers the editor's state; a new landing page past 99 is refused (409 `too_many_pages`); `?if_changed_at_ms=` (or `none`) refuses a draft saved since (409 `changed_meanwhile`) |
//! | `POST /pages/{page}/publish` | | admin | the draft becomes version last + 1, published; 409 `no_draft` |
//! | `POST /pages/{page}/rollback/{version}` | | admin | a kept version published again; 404 `no_such_version` |
//! | `DELETE /pages/{page}` | | admin | `{deleted}`: a landing page and all its versions gone (over 87 versions: off the storefront now, the rest over further calls, `remaining_versions` says how many); the homepage cannot be |
//! | `POST /pictures` | | admin, `picture` | the kernel stored the upload; its URL goes first in the list (once, 200 kept) |
//! | `GET /pictures` | | admin | `{pictures: [url]}`, newest first |
//!
//! A saved draft is refused (422 `invalid_layout`, nothing stored) naming the field: `title`
//! (over 40 characters), `sections` (over 40, or a layout over 32 KiB), `colors.{name}` (a
//! colour the theme does not have, or not `#rgb`/`#rrggbb`), `sections[{i}].{field}` (what
//! the theme's `check-section` refused, with its message; `sections[{i}].kind` for a type it
//! does not draw). The settings are kept as the theme returned them, defaults filled in.
//!
//! Storage is described in `page.rs`: `draft:`, `published:` and `version:` keys,
//! every published version kept for rollback (the kernel's kv quota bounds them), and two
//! small summaries per page (`meta:`, `history:`) so the list and the editor read no layouts.
//!
//! **Fuel.** Nearly all a call spends is JSON (50 to 200 instructions a byte in wasm, the more
//! the smaller its values): measured with `pifa plugins run`, a public page of ten ordinary
//! sections (3 KiB) costs about 340,000 fuel, the editor's state for it about 1,150,000 (the
//! default theme's section types are a third of that), a save about 1,400,000; a save of 40
//! ordinary sections about 3,100,000, and of the most a layout may hold in small settings (40
//! navigation sections of 10 links) about 8,400,000. The kernel's default `fuel_base`
//! (2,000,000) therefore holds pages of about ten to fifteen sections: the shipped
//! `plugins.toml` gives its routes `quota = { route_fuel = 12000000 }` (the most a save can
//! take, with room), which leaves every other plugin's fuel as it was. A call that runs out
//! is the plugin's failure (503 `plugin_failed`), and five in a row suspend it.
//!
//! The logic is plain functions over `pifa_sdk::Kv` and `theme::Theme`, unit-tested natively
//! (`cargo test --manifest-path plugins/Cargo.toml -p decoration`) against a map and a fake
//! theme; only the `Plugin` impl below binds them to the kernel's imports, which exist on
//! wasm32 alone. Grant it in `plugins.toml` with `capabilities = ["kv", "pages", "pictures"]`
//! and `route_roles = ["public", "admin"]`.
//!
//! [`PageLayout`]: pifa_sdk::PageLayout

// Natively the hook that calls the logic is compiled out (it needs the host), so outside the
// unit tests everything looks unused.
#![cfg_attr(
    all(not(target_arch = "wasm32"), not(test)),
    allow(dead_code, reason = "natively only the unit tests use the logic")
)]

mod http;
mod layout;
mod manifest;
mod page;
mod theme;

#[cfg(target_arch = "wasm32")]
mod hooks {
    use pifa_sdk::{HookError, HttpRequest, HttpResponse, Manifest, Plugin};

    use crate::theme::HostTheme;
    use crate::{http, manifest};
    use pifa_sdk::HostKv;

    struct Decoration;

    impl Plugin for Decoration {
        fn manifest() -> Manifest {
            manifest::manifest()
        }

        fn handle_http(request: HttpRequest) -> Result<HttpResponse, HookError> {
            let response = http::handle(&mut HostKv, &HostTheme, &request);
            // Every call is a fresh instance, thrown away after it: freeing the request (a
            // whole layout, for a save) would spend fuel on memory nobody uses again.
            std::mem::forget(request);
            Ok(response)
        }
    }

    pifa_sdk::export_plugin!(Decoration);
}

/// The fixtures the kernel's runner plays against the built component (`pifa plugins run`,
/// with no theme host: no section types, every section refused), played here against the
/// logic, so a fixture that disagrees with the code fails before the kernel's suite runs.
#[cfg(test)]
mod fixtures {
    use std::path::Path;

    use pifa_sdk::testing::{input, json, play_dir};

    use crate::http;
    use crate::theme::NoTheme;

    #[test]
    fn every_fixture_gives_its_expected_output() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        play_dir(&dir, 2, |hook, kv, given| {
            assert_eq!(hook, "handle-http");
            json(http::handle(kv, &NoTheme, &input(given)?))
        });
    }
}
