//! Composed pages (J1, J2): the homepage and landing pages (`/pages/…`). A plugin granted
//! `pages` may mount a route at one of those paths (`Route::mount`); its answer is a
//! `PageLayout` — sections in order, colours — which this module draws through the active
//! theme's `sections/<kind>.html`, with the data each section type needs fetched here by the
//! same handlers the JSON API answers with, for this viewer (his prices, or none). A plugin
//! composes a page; it never sees who looks at it nor what he may pay.
//!
//! Without a plugin at `/` (none installed, or it has nothing published, or it fails), the
//! homepage is the kernel's default layout: search, the flash sales, the categories, the
//! newest goods.
//!
//! Drawn sections are kept (`DrawnSections`) by the theme, the section's settings and the
//! viewer's price view, so a layout's many sections cost one template render per change, not
//! per request. A change to the goods forgets exactly the sections showing them (or listing
//! by a query they could now enter); a publish changes the settings, so the key. The flash
//! sales' countdowns are drawn for every request (their seconds move).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use pifa_sdk::{PageLayout, Section};
use serde_json::Value;

use super::{Page, Visit};
use crate::accounts::sessions::ClientInfo;
use crate::catalog::handlers::{self as catalog, ProductQuery};
use crate::catalog::pricing::{self, PriceView};
use crate::edge::extract::{Path, Query};
use crate::error::ApiError;
use crate::ids::SkuId;
use crate::plugins::PluginsState;
use crate::shop::Shop;
use crate::store::{Change, Room};
use crate::themes::sections;
use crate::themes::views::{
    CategoryCard, DrawnSection, FlashSale, HomeView, ProductCard, SectionView,
};

/// A page draws at most this many sections (a layout with more is cut there).
const MAX_SECTIONS: usize = 40;

/// The flash sales the flash-sale section shows, at most.
const MAX_FLASH_SALES: usize = 5;

/// The plugin whose countdowns the flash-sale section shows.
const FLASH_SALE_PLUGIN: &str = "flash-sale";

/// `GET /`: the page a plugin mounts at `/`, else the default layout.
pub async fn home(
    State(shop): State<Shop>,
    State(plugins): State<PluginsState>,
    client: ClientInfo,
    visit: Visit,
) -> Page {
    compose(&shop, plugins, client, visit, "/").await
}

/// `GET /pages/{*path}`: a landing page (or the editor's preview) a plugin mounts.
pub async fn landing(
    State(shop): State<Shop>,
    State(plugins): State<PluginsState>,
    client: ClientInfo,
    Path(rest): Path<String>,
    visit: Visit,
) -> Page {
    compose(&shop, plugins, client, visit, &format!("/pages/{rest}")).await
}

/// The kernel's homepage when no plugin composes one.
fn default_layout() -> PageLayout {
    let section = |kind: &str| Section {
        kind: kind.to_owned(),
        settings: Value::Null,
    };
    PageLayout {
        title: String::new(),
        colors: BTreeMap::new(),
        sections: ["search", "flash_sale", "nav", "goods"]
            .into_iter()
            .map(section)
            .collect(),
        draft: false,
    }
}

async fn compose(
    shop: &Shop,
    plugins: PluginsState,
    client: ClientInfo,
    visit: Visit,
    path: &str,
) -> Page {
    // What the shop shows this viewer at all (B2): the single page, or the profile first.
    let price = match PriceView::of(&shop.store, visit.actor.as_ref(), pricing::Page::List).await {
        Ok(price) => price,
        Err(error) => return visit.show::<HomeView>(Err(error)),
    };
    let layout = match mounted_layout(&plugins, &visit, &client, path).await {
        Ok(Some(layout)) => layout,
        Ok(None) if path == "/" => default_layout(),
        Ok(None) => return visit.show::<HomeView>(Err(ApiError::not_found())),
        // The plugin refused this viewer (a preview for staff alone): its answer.
        Err(error) => return visit.show::<HomeView>(Err(error)),
    };
    let drawing = Drawing {
        shop,
        plugins: &plugins,
        visit: &visit,
        client: &client,
        price,
    };
    let mut drawn = Vec::new();
    for section in layout.sections.iter().take(MAX_SECTIONS) {
        if let Some(html) = drawing.section(section).await {
            drawn.push(DrawnSection {
                kind: section.kind.clone(),
                html: html.to_string(),
            });
        }
    }
    let draft = layout.draft;
    let view = HomeView {
        title: layout.title.chars().take(40).collect(),
        colors: sections::page_colors(&visit.theme.manifest, &layout.colors),
        sections: drawn,
        preview: draft.then(|| path.to_owned()),
    };
    let page = visit.show(Ok(view));
    if draft {
        page.framed_by_the_office()
    } else {
        page
    }
}

/// The layout the plugin mounted at `path` answers for this viewer: `None` when no plugin is
/// mounted there, or it has none (404) or fails (logged); its refusal when it refuses him.
async fn mounted_layout(
    plugins: &PluginsState,
    visit: &Visit,
    client: &ClientInfo,
    path: &str,
) -> Result<Option<PageLayout>, ApiError> {
    let set = plugins.plugins.current();
    let Some((plugin, route_path)) = set.mounted(path) else {
        return Ok(None);
    };
    let name = plugin.name().to_owned();
    match ask_plugin(plugins, visit, client, &name, &route_path).await {
        Ok(body) => match serde_json::from_value::<PageLayout>(body) {
            Ok(layout) => Ok(Some(layout)),
            Err(error) => {
                tracing::warn!(plugin = %name, %error, path, "a mounted page's answer is not a layout");
                Ok(None)
            }
        },
        Err(refusal) => match refusal.status {
            axum::http::StatusCode::NOT_FOUND => Ok(None),
            axum::http::StatusCode::UNAUTHORIZED => Err(ApiError::unauthenticated()),
            axum::http::StatusCode::FORBIDDEN => Err(ApiError::forbidden()),
            status => {
                tracing::warn!(plugin = %name, %status, path, "a mounted page did not answer; the kernel's page serves");
                Ok(None)
            }
        },
    }
}

/// Asks `plugin`'s `GET` route at `route_path` as this viewer (`super::call_plugin`).
async fn ask_plugin(
    plugins: &PluginsState,
    visit: &Visit,
    client: &ClientInfo,
    plugin: &str,
    route_path: &str,
) -> Result<Value, ApiError> {
    super::call_plugin(
        plugins,
        visit.actor.clone(),
        client,
        super::PluginRequest::get(plugin, route_path),
    )
    .await
}

/// The price view as drawn sections are kept by: what the viewer may pay, and for one who
/// sees no price, whether he is signed in (the words differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PriceKey {
    Visible(Option<i64>),
    Hidden { signed_in: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SectionKey {
    theme: u64,
    kind: String,
    settings: String,
    price: PriceKey,
}

/// What a drawn section shows of the shop, so a change forgets exactly what it must.
#[derive(Debug, Clone)]
enum Shows {
    /// Nothing of the catalogue (a picture, words).
    Nothing,
    /// The categories or brands.
    Library,
    /// Goods: these products, and whether a query chose them (a product changed or put on the
    /// shelf could enter it) or the owner did (only they matter).
    Goods { by_query: bool, products: Vec<i64> },
}

struct Drawn {
    html: Arc<str>,
    shows: Shows,
}

/// Drawn sections, kept in the store's rooms (cleared on every instance by the changes that
/// concern them).
pub struct DrawnSections {
    drawn: moka::sync::Cache<SectionKey, Arc<Drawn>>,
}

impl Default for DrawnSections {
    fn default() -> Self {
        DrawnSections {
            drawn: moka::sync::Cache::new(2_000),
        }
    }
}

impl DrawnSections {
    fn forget_if(&self, stale: impl Fn(&Shows) -> bool) {
        for (key, drawn) in self.drawn.iter() {
            if stale(&drawn.shows) {
                self.drawn.invalidate(key.as_ref());
            }
        }
    }
}

impl Room for DrawnSections {
    fn apply(&self, change: &Change) {
        match change {
            // A product's fields, prices or shelf state: the goods sections showing it, and
            // those a query fills (it may enter or leave them).
            Change::Product(id) => self.forget_if(|shows| match shows {
                Shows::Goods { by_query, products } => *by_query || products.contains(id),
                _ => false,
            }),
            // Stock moves no product in or out of a list: only where it is shown.
            Change::Stock(ids) => self.forget_if(|shows| match shows {
                Shows::Goods { products, .. } => products.iter().any(|p| ids.contains(p)),
                _ => false,
            }),
            Change::Library => self.forget_if(|shows| match shows {
                Shows::Library => true,
                Shows::Goods { by_query, .. } => *by_query,
                Shows::Nothing => false,
            }),
            // Prices by level, the shop's mode, anything: all that shows the catalogue.
            Change::Catalogue | Change::Settings | Change::Everything => {
                self.forget_if(|shows| !matches!(shows, Shows::Nothing));
            }
            Change::Accounts
            | Change::PluginValues(_)
            | Change::PluginCounters(_)
            | Change::Inbox(_) => {}
        }
    }
}

/// What drawing one page's sections needs.
struct Drawing<'a> {
    shop: &'a Shop,
    plugins: &'a PluginsState,
    visit: &'a Visit,
    client: &'a ClientInfo,
    price: PriceView,
}

impl Drawing<'_> {
    fn price_key(&self) -> PriceKey {
        match self.price {
            PriceView::Visible { level_id } => PriceKey::Visible(level_id),
            PriceView::Hidden => PriceKey::Hidden {
                signed_in: self.visit.actor.is_some(),
            },
        }
    }

    fn view(&self, kind: &str, settings: Value) -> SectionView {
        SectionView {
            kind: kind.to_owned(),
            settings,
            signed_in: self.visit.actor.is_some(),
            prices_visible: self.price.is_visible(),
            products: Vec::new(),
            brands: Vec::new(),
            categories: Vec::new(),
            flash_sales: Vec::new(),
        }
    }

    /// One section drawn, or `None` when its settings no longer pass the theme's schema, its
    /// data cannot be had, or its template fails (each logged where it matters).
    async fn section(&self, section: &Section) -> Option<Arc<str>> {
        let theme = &self.visit.theme;
        let settings = sections::drawable(&theme.manifest, &section.kind, &section.settings)?;
        if section.kind == "flash_sale" {
            let mut view = self.view(&section.kind, settings);
            view.flash_sales = flash_sales(self.shop, self.plugins, self.visit, self.client).await;
            return self.render(&view).map(Arc::from);
        }
        let key = SectionKey {
            theme: theme.fingerprint,
            kind: section.kind.clone(),
            settings: settings.to_string(),
            price: self.price_key(),
        };
        let kept = self.shop.store.room::<DrawnSections>();
        if let Some(drawn) = kept.drawn.get(&key) {
            return Some(drawn.html.clone());
        }
        // Read before the data: a change landing meanwhile is not hidden by this copy.
        let generation = self.shop.store.generation().current();
        let mut view = self.view(&section.kind, settings);
        let shows = match self.fill(&mut view).await {
            Ok(shows) => shows,
            Err(error) => {
                tracing::warn!(kind = %section.kind, code = error.code, "a section's data could not be read");
                return None;
            }
        };
        let html: Arc<str> = Arc::from(self.render(&view)?);
        if self.shop.store.generation().current() == generation {
            kept.drawn.insert(
                key,
                Arc::new(Drawn {
                    html: html.clone(),
                    shows,
                }),
            );
        }
        Some(html)
    }

    fn render(&self, view: &SectionView) -> Option<String> {
        self.visit
            .theme
            .render_section(view)
            .inspect_err(|error| {
                tracing::error!(theme = %self.visit.theme.id, kind = %view.kind, %error, "a section did not render");
            })
            .ok()
    }

    /// The data `view`'s kind shows, fetched for this viewer.
    async fn fill(&self, view: &mut SectionView) -> Result<Shows, ApiError> {
        let setting = |key: &str| view.settings.get(key).cloned().unwrap_or(Value::Null);
        let count = setting("count").as_i64().unwrap_or(12).clamp(1, 40);
        match view.kind.as_str() {
            "goods" => {
                let source = setting("source");
                let id = |key: &str| setting(key).as_i64().filter(|id| *id > 0);
                let picked: Vec<i64> = setting("product_ids")
                    .as_array()
                    .map(|ids| ids.iter().filter_map(Value::as_i64).collect())
                    .unwrap_or_default();
                let mut query = ProductQuery {
                    limit: Some(count),
                    ..ProductQuery::default()
                };
                let chosen = match source.as_str().unwrap_or("new") {
                    "hot" | "recommended" | "new" => {
                        query.list = source.as_str().map(str::to_owned);
                        true
                    }
                    "category" => {
                        query.category_id = id("category_id");
                        query.category_id.is_some()
                    }
                    "brand" => {
                        query.brand_id = id("brand_id");
                        query.brand_id.is_some()
                    }
                    "tag" => {
                        query.tag_id = id("tag_id");
                        query.tag_id.is_some()
                    }
                    "picked" => {
                        let ids: Vec<String> = picked.iter().map(i64::to_string).collect();
                        query.ids = Some(ids.join(","));
                        !ids.is_empty()
                    }
                    _ => false,
                };
                let by_query = source.as_str() != Some("picked");
                if !chosen {
                    return Ok(Shows::Goods {
                        by_query,
                        products: Vec::new(),
                    });
                }
                let mut products = catalog::list_products(
                    State(self.shop.clone()),
                    self.visit.maybe_actor(),
                    Query(query),
                )
                .await?
                .items;
                if !by_query {
                    // In the order the owner picked them.
                    products.sort_by_key(|p| picked.iter().position(|id| *id == p.id));
                }
                products.truncate(usize::try_from(count).unwrap_or(12));
                view.products = products.iter().map(ProductCard::from).collect();
                Ok(Shows::Goods {
                    by_query,
                    products: products.iter().map(|p| p.id).collect(),
                })
            }
            "brands" => {
                let brands =
                    catalog::list_brands(State(self.shop.clone()), self.visit.maybe_actor())
                        .await?
                        .0;
                view.brands = brands
                    .iter()
                    .take(usize::try_from(count).unwrap_or(8))
                    .cloned()
                    .collect();
                Ok(Shows::Library)
            }
            "nav" if setting("source").as_str() == Some("categories") => {
                let all =
                    catalog::list_categories(State(self.shop.clone()), self.visit.maybe_actor())
                        .await?
                        .0;
                view.categories = all
                    .iter()
                    .filter(|c| c.parent_id.is_none())
                    .map(CategoryCard::from)
                    .collect();
                Ok(Shows::Library)
            }
            _ => Ok(Shows::Nothing),
        }
    }
}

/// The flash sales the flash-sale plugin's public `storefront` route shows this viewer, asked
/// through the plugin host's own route handler (so its grants, rate limit and price rules
/// hold), each item with its product page. Empty when the plugin is not installed, refuses,
/// or answers something else: the section then draws nothing.
async fn flash_sales(
    shop: &Shop,
    plugins: &PluginsState,
    visit: &Visit,
    client: &ClientInfo,
) -> Vec<FlashSale> {
    #[derive(serde::Deserialize)]
    struct Storefront {
        sales: Vec<FlashSale>,
    }
    let Ok(body) = ask_plugin(plugins, visit, client, FLASH_SALE_PLUGIN, "/storefront").await
    else {
        return Vec::new();
    };
    let Ok(Storefront { mut sales }) = serde_json::from_value(body) else {
        return Vec::new();
    };
    // The plugin's answer may be a few seconds old (its route is shared): the state and the
    // seconds left are worked out again from the sale's times on this page's clock.
    let now_ms = shop.clock.now_ms();
    sales.retain(|sale| sale.ends_at_ms > now_ms);
    for sale in &mut sales {
        let (state, until_ms) = if sale.starts_at_ms <= now_ms {
            ("active", sale.ends_at_ms)
        } else {
            ("upcoming", sale.starts_at_ms)
        };
        state.clone_into(&mut sale.state);
        // Rounded up, as the plugin does: a running sale never shows 0.
        sale.seconds_left = (until_ms - now_ms).saturating_add(999) / 1000;
    }
    sales.truncate(MAX_FLASH_SALES);
    let skus: Vec<SkuId> = sales
        .iter()
        .flat_map(|sale| sale.items.iter().map(|item| SkuId(item.sku_id)))
        .collect();
    if let Ok(products) = shop.store.catalog().sku_products(&skus).await {
        for item in sales.iter_mut().flat_map(|sale| sale.items.iter_mut()) {
            item.product_id = products.get(&SkuId(item.sku_id)).map(|p| p.get());
        }
    }
    sales
}
