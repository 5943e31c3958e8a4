//! 商品: the goods in the back office. Every product on the shelf and off it, searched and
//! filtered, shelved and unshelved from its row; one product's editor for its fields, each
//! SKU's prices (list, cost, per level, by quantity) and stock, one more SKU, its pictures;
//! a new product with its first SKU; the catalogue exported and imported as a spreadsheet.
//! Every form goes through the catalogue API's own handlers (`catalog::handlers`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;

use super::jobs::{self, Work};
use super::{PER_PAGE, menu_for, paging, query_string, row_form};
use crate::accounts::permissions::Actor;
use crate::accounts::sessions::ClientInfo;
use crate::catalog::handlers::{
    self as catalog, AdminProductQuery, ProductInput, ProductPatch, SkuInput,
};
use crate::catalog::library;
use crate::catalog::transfer::SheetFormat;
use crate::catalog::{LevelPrice, PriceBreak, Product};
use crate::edge::extract::{Path, Query};
use crate::edge::json::ApiJson;
use crate::error::ApiError;
use crate::jobs::{Finished, Jobs};
use crate::members::Level;
use crate::pages::fields::Fields;
use crate::pages::{Page, Visit};
use crate::shop::Shop;
use crate::themes::office::RowError;
use crate::themes::office::goods::{
    CategoryOption, GoodsRow, OfficeGoodsView, OfficeLibraryView, OfficeProductView, SPARE_BREAKS,
};
use crate::themes::views::FormError;

/// The filters of `/admin/goods`, as its form sends them (empty fields are no filter).
#[derive(Debug, Default, Deserialize)]
pub struct GoodsSearch {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub category_id: String,
    #[serde(default)]
    pub shelf: String,
    #[serde(default)]
    pub offset: i64,
}

impl GoodsSearch {
    fn query(&self, offset: Option<i64>) -> String {
        query_string(
            &[
                ("q", &self.q),
                ("category_id", &self.category_id),
                ("shelf", &self.shelf),
            ],
            offset,
        )
    }

    fn category_id(&self) -> Option<i64> {
        self.category_id.trim().parse().ok()
    }
}

/// What the list shows besides its rows: an import or export refused before it started, or
/// a row's refusal.
#[derive(Default)]
struct Outcome {
    transfer_error: Option<FormError>,
    error: Option<RowError>,
}

async fn goods_view(
    shop: &Shop,
    actor: Actor,
    search: &GoodsSearch,
    outcome: Outcome,
) -> Result<OfficeGoodsView, ApiError> {
    let menu = menu_for(&actor, "goods")?;
    let offset = search.offset.max(0);
    let page = catalog::admin_products(
        State(shop.clone()),
        actor,
        Query(AdminProductQuery {
            q: Some(search.q.clone()),
            category_id: search.category_id(),
            shelf: Some(search.shelf.clone()),
            limit: Some(PER_PAGE),
            offset: Some(offset),
            ..AdminProductQuery::default()
        }),
    )
    .await?;
    let (categories, brands) = tokio::try_join!(
        shop.store.catalog().list_categories(),
        shop.store.catalog().list_brands()
    )?;
    let (next_href, previous_href) = paging(offset, page.items.len(), page.total, |offset| {
        format!("/admin/goods?{}", search.query(Some(offset)))
    });
    Ok(OfficeGoodsView {
        menu,
        q: search.q.clone(),
        category_id: search.category_id(),
        shelf: search.shelf.clone(),
        rows: page
            .items
            .into_iter()
            .map(|product| GoodsRow::of(product, &categories, &brands))
            .collect(),
        total: page.total,
        next_href,
        previous_href,
        categories: CategoryOption::tree(&categories),
        back: format!("/admin/goods?{}", search.query(Some(offset))),
        transfer_error: outcome.transfer_error,
        error: outcome.error,
    })
}

/// `GET /admin/goods`: every product, searched and filtered, 50 a page.
pub async fn list(
    State(shop): State<Shop>,
    visit: Visit,
    search: Result<Query<GoodsSearch>, ApiError>,
) -> Page {
    let view = async {
        let actor = visit.actor()?;
        let Query(search) = search?;
        goods_view(&shop, actor, &search, Outcome::default()).await
    }
    .await;
    visit.show(view)
}

/// `POST /admin/goods/{id}/shelf` (`on_shelf` `true` or `false`, `back`: the list it was
/// posted from): 上架 / 下架 through `update_product`; back to that list.
pub async fn shelve(
    State(shop): State<Shop>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<i64>, ApiError>,
    body: Bytes,
) -> Page {
    let form = Fields::parse(&body);
    let back = crate::pages::local_path(form.text("back")).to_owned();
    let outcome = async {
        let actor = visit.actor()?;
        let Path(id) = path?;
        let on_shelf = form.ticked("on_shelf");
        let done = catalog::update_product(
            State(shop.clone()),
            actor.clone(),
            client,
            Path(id),
            ApiJson(ProductPatch {
                on_shelf: Some(on_shelf),
                ..ProductPatch::default()
            }),
        )
        .await
        .map(|_| {
            let notice = if on_shelf { "shelved" } else { "unshelved" };
            let joiner = if back.contains('?') { '&' } else { '?' };
            format!("{back}{joiner}notice={notice}#product-{id}")
        })
        .map_err(|error| ("shelf", error));
        Ok((actor, id, done))
    }
    .await;
    row_form(&visit, outcome, |actor, refused| async move {
        let outcome = Outcome {
            error: Some(refused),
            ..Outcome::default()
        };
        goods_view(&shop, actor, &GoodsSearch::default(), outcome).await
    })
    .await
}

/// `POST /admin/goods/import` (a multipart form with `file`: .xlsx or UTF-8 CSV): a job
/// checks every row first and imports all or nothing (`catalog::import_file`); its page shows
/// what changed, or every problem by row and column and nothing imported. No file, or too
/// much running, is refused on the list before a job starts.
pub async fn import(
    State(shop): State<Shop>,
    State(jobs): State<Arc<Jobs>>,
    visit: Visit,
    client: ClientInfo,
    request: axum::extract::Request,
) -> Page {
    let started = async {
        let actor = visit.actor()?;
        // The screen is asked for first, so a role without it learns nothing of the file.
        menu_for(&actor, "goods")?;
        let started = async {
            let (_, file) = crate::pages::read_file_form(request).await?;
            let file = file.ok_or_else(|| {
                ApiError::invalid_field("invalid_file", "file", "file: 请选择文件 (choose a file)")
            })?;
            let (worker, shop) = (actor.clone(), shop.clone());
            jobs::start(&jobs, &actor, Work::Import, move |progress| async move {
                let summary =
                    catalog::import_file(&shop, &worker, &client, file, &progress).await?;
                Ok(Finished::of(&summary))
            })
        }
        .await;
        Ok((actor, started.map_err(|error| ("import", error))))
    }
    .await;
    transfer_started(&visit, &shop, started).await
}

/// `POST /admin/goods/export` (`format`: `xlsx` or `csv`): every product and SKU as a
/// spreadsheet, made by a job (`catalog::export_file`) whose page offers it to download.
pub async fn export(
    State(shop): State<Shop>,
    State(jobs): State<Arc<Jobs>>,
    visit: Visit,
    body: Bytes,
) -> Page {
    let form = Fields::parse(&body);
    let started = async {
        let actor = visit.actor()?;
        menu_for(&actor, "goods")?;
        let started = SheetFormat::parse(Some(form.text("format"))).and_then(|format| {
            let (worker, shop) = (actor.clone(), shop.clone());
            jobs::start(
                &jobs,
                &actor,
                Work::GoodsExport,
                move |progress| async move {
                    let file = catalog::export_file(&shop, &worker, format, &progress).await?;
                    Ok(Finished::of(&()).with_file(file))
                },
            )
        });
        Ok((actor, started.map_err(|error| ("export", error))))
    }
    .await;
    transfer_started(&visit, &shop, started).await
}

/// An import or export asked for: refused outright (not his screen), or by the caller, his job's
/// page or the form's refusal (`import` or `export`).
type Started = Result<(Actor, Result<String, (&'static str, ApiError)>), ApiError>;

/// An import or export started: its job's page; or refused before it started: the list
/// with the refusal by the import and export forms, in its status.
async fn transfer_started(visit: &Visit, shop: &Shop, started: Started) -> Page {
    let refused = match started {
        Ok((_, Ok(href))) => return visit.redirect(&href),
        Ok((actor, Err((form, error)))) => (actor, form, error),
        Err(error) => return visit.show::<OfficeGoodsView>(Err(error)),
    };
    let (actor, form, error) = refused;
    let outcome = Outcome {
        transfer_error: Some(FormError::of(form, &error)),
        ..Outcome::default()
    };
    match goods_view(shop, actor, &GoodsSearch::default(), outcome).await {
        Ok(view) => visit.show_with(error.status, &view),
        Err(error) => visit.show::<OfficeGoodsView>(Err(error)),
    }
}

/// The editor of `product` (none: a new product's form), with a refused form and what was
/// typed in it.
async fn product_view(
    shop: &Shop,
    actor: Actor,
    product: Option<Product>,
    error: Option<RowError>,
    typed: std::collections::BTreeMap<String, String>,
) -> Result<OfficeProductView, ApiError> {
    let menu = menu_for(&actor, "goods")?;
    let (categories, brands, levels, tags) = tokio::try_join!(
        async { Ok::<_, ApiError>(shop.store.catalog().list_categories().await?) },
        async { Ok(shop.store.catalog().list_brands().await?) },
        async { Ok(shop.store.members().list_levels().await?) },
        async { Ok(shop.store.catalog().list_product_tags().await?) },
    )?;
    let units = catalog::list_units(State(shop.clone())).await?.0;
    Ok(OfficeProductView {
        menu,
        product,
        categories: CategoryOption::tree(&categories),
        brands: brands.as_ref().clone(),
        units,
        levels,
        tags,
        spare_breaks: SPARE_BREAKS,
        error,
        typed,
    })
}

/// `GET /admin/goods/new`: the form for a new product and its first SKU.
pub async fn new_product(State(shop): State<Shop>, visit: Visit) -> Page {
    let view =
        async { product_view(&shop, visit.actor()?, None, None, Default::default()).await }.await;
    visit.show(view)
}

/// `GET /admin/goods/{id}`: one product's editor (`get_product`: costs and level prices
/// included, for those who manage the catalogue).
pub async fn product(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
) -> Page {
    let view = async {
        let actor = visit.actor()?;
        menu_for(&actor, "goods")?;
        let id = crate::pages::goods::id_of(path)?;
        let product = catalog::get_product(State(shop.clone()), actor.clone(), Path(id))
            .await?
            .0;
        product_view(&shop, actor, Some(product), None, Default::default()).await
    }
    .await;
    visit.show(view)
}

/// A SKU form's fields as the API takes them: prices in yuan (`price`, `cost`, `level_<id>`
/// per level, `break_qty_<i>` with `break_price_<i>`), `stock`, `barcode`, `model`, `spec`,
/// `low_stock_threshold`, `weight_g`, `allow_backorder`. `attributes` are kept from the SKU
/// the form edits (the spec library's values are not on this form).
fn sku_input(
    form: &Fields,
    levels: &[Level],
    attributes: std::collections::BTreeMap<String, String>,
) -> Result<SkuInput, ApiError> {
    let mut level_prices = Vec::new();
    for level in levels {
        if let Some(price_fen) = form.optional_yuan(&format!("level_{}", level.id))? {
            level_prices.push(LevelPrice {
                level_id: level.id,
                price_fen,
            });
        }
    }
    let mut breaks = Vec::new();
    for i in 0..crate::catalog::handlers::MAX_BREAKS {
        let qty_field = format!("break_qty_{i}");
        let price_field = format!("break_price_{i}");
        let (Some(min_qty), Some(price_fen)) = (
            form.optional_integer(&qty_field)?,
            form.optional_yuan(&price_field)?,
        ) else {
            continue;
        };
        breaks.push(PriceBreak { min_qty, price_fen });
    }
    Ok(SkuInput {
        model: form.text("model").to_owned(),
        spec: form.text("spec").to_owned(),
        price_fen: form.yuan("price")?,
        cost_fen: form.optional_yuan("cost")?,
        stock: form.optional_integer("stock")?.unwrap_or(0),
        allow_backorder: form.ticked("allow_backorder"),
        low_stock_threshold: form.optional_integer("low_stock_threshold")?,
        weight_g: form.optional_integer("weight_g")?,
        barcode: Some(form.text("barcode").to_owned()).filter(|b| !b.is_empty()),
        attributes,
        level_prices,
        breaks,
    })
}

/// What a post to the editor came to: on to the product's editor with a notice, or the
/// editor again with the refusal beside its form (`form`, the SKU's id or 0).
type EditorOutcome = Result<(Actor, Result<String, (RowError, ApiError)>), ApiError>;

/// The answer to a post to the editor of product `id` (none: the new product's form).
async fn editor_answer(
    shop: &Shop,
    visit: &Visit,
    id: Option<i64>,
    typed: std::collections::BTreeMap<String, String>,
    outcome: EditorOutcome,
) -> Page {
    match outcome {
        Err(error) => visit.show::<OfficeProductView>(Err(error)),
        Ok((_, Ok(next))) => visit.redirect(&next),
        Ok((actor, Err((refused, error)))) => {
            let product = match id {
                Some(id) => shop.store.catalog().product(id).await.ok().flatten(),
                None => None,
            };
            match product_view(shop, actor, product, Some(refused), typed).await {
                Ok(view) => visit.show_with(error.status, &view),
                Err(_) => visit.show::<OfficeProductView>(Err(error)),
            }
        }
    }
}

fn refused(form: &'static str, id: i64, error: ApiError) -> (RowError, ApiError) {
    (
        RowError {
            id,
            error: FormError::of(form, &error),
        },
        error,
    )
}

/// `POST /admin/goods/new`: a new product with its first SKU (`create_product`); on to its
/// editor, or the form again as typed with the refusal.
pub async fn create(
    State(shop): State<Shop>,
    visit: Visit,
    client: ClientInfo,
    body: Bytes,
) -> Page {
    let form = Fields::parse(&body);
    let outcome = async {
        let actor = visit.actor()?;
        menu_for(&actor, "goods")?;
        let levels = shop.store.members().list_levels().await?;
        let created = async {
            let input = ProductInput {
                item_no: form.text("item_no").to_owned(),
                name: form.text("name").to_owned(),
                description: form.raw("description").to_owned(),
                brand_id: form.optional_integer("brand_id")?,
                category_id: form.optional_integer("category_id")?,
                supplier_id: None,
                unit_id: form.integer("unit_id")?,
                on_shelf: form.ticked("on_shelf"),
                tag_ids: form.integers("tag_ids"),
                skus: vec![sku_input(&form, &levels, Default::default())?],
            };
            catalog::create_product(State(shop.clone()), actor.clone(), client, ApiJson(input))
                .await
        }
        .await;
        Ok((
            actor,
            created
                .map(|(_, product)| format!("/admin/goods/{}?notice=product_created", product.id))
                .map_err(|error| refused("product", 0, error)),
        ))
    }
    .await;
    editor_answer(&shop, &visit, None, form.typed(), outcome).await
}

/// `POST /admin/goods/{id}` (`name`, `description`, `category_id`, `brand_id`, `tag_ids`,
/// `on_shelf`): the product's fields (`update_product`).
pub async fn update(
    State(shop): State<Shop>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<i64>, ApiError>,
    body: Bytes,
) -> Page {
    let form = Fields::parse(&body);
    let id = path.ok().map(|Path(id)| id);
    let outcome = async {
        let actor = visit.actor()?;
        let id = id.ok_or_else(ApiError::not_found)?;
        let updated = async {
            let patch = ProductPatch {
                name: Some(form.text("name").to_owned()),
                description: Some(form.raw("description").to_owned()),
                brand_id: form.optional_integer("brand_id")?,
                category_id: form.optional_integer("category_id")?,
                on_shelf: Some(form.ticked("on_shelf")),
                tag_ids: Some(form.integers("tag_ids")),
                ..ProductPatch::default()
            };
            catalog::update_product(
                State(shop.clone()),
                actor.clone(),
                client,
                Path(id),
                ApiJson(patch),
            )
            .await
        }
        .await;
        Ok((
            actor,
            updated
                .map(|_| format!("/admin/goods/{id}?notice=product_saved"))
                .map_err(|error| refused("product", 0, error)),
        ))
    }
    .await;
    editor_answer(&shop, &visit, id, form.typed(), outcome).await
}

/// `POST /admin/goods/{id}/skus/{sku_id}`: one SKU's fields, prices and stock
/// (`replace_sku`), its spec-library attributes kept.
pub async fn save_sku(
    State(shop): State<Shop>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<(i64, i64)>, ApiError>,
    body: Bytes,
) -> Page {
    let ids = path.ok().map(|Path((id, sku_id))| (id, Some(sku_id)));
    sku_form(&shop, &visit, client, ids, &body).await
}

/// `POST /admin/goods/{id}/skus`: one more SKU after the product's others (`add_sku`).
pub async fn add_sku(
    State(shop): State<Shop>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<i64>, ApiError>,
    body: Bytes,
) -> Page {
    let ids = path.ok().map(|Path(id)| (id, None));
    sku_form(&shop, &visit, client, ids, &body).await
}

/// A SKU form of product `id`: the SKU `sku_id` replaced, or (none) one more added; on to
/// the editor, or the editor with the refusal by that form.
async fn sku_form(
    shop: &Shop,
    visit: &Visit,
    client: ClientInfo,
    ids: Option<(i64, Option<i64>)>,
    body: &Bytes,
) -> Page {
    let form = Fields::parse(body);
    let outcome = async {
        let actor = visit.actor()?;
        let (id, sku_id) = ids.ok_or_else(ApiError::not_found)?;
        let product = catalog::get_product(State(shop.clone()), actor.clone(), Path(id))
            .await?
            .0;
        let attributes = match sku_id {
            Some(sku_id) => product
                .skus
                .iter()
                .find(|sku| sku.id.0 == sku_id)
                .map(|sku| sku.attributes.clone())
                .ok_or_else(ApiError::not_found)?,
            None => Default::default(),
        };
        let levels = shop.store.members().list_levels().await?;
        let saved = async {
            let input = ApiJson(sku_input(&form, &levels, attributes)?);
            let state = State(shop.clone());
            match sku_id {
                Some(sku_id) => {
                    catalog::replace_sku(state, actor.clone(), client, Path(sku_id), input)
                        .await
                        .map(drop)
                }
                None => catalog::add_sku(state, actor.clone(), client, Path(id), input)
                    .await
                    .map(drop),
            }
        }
        .await;
        Ok((
            actor,
            saved
                .map(|()| match sku_id {
                    Some(sku_id) => format!("/admin/goods/{id}?notice=sku_saved#sku-{sku_id}"),
                    None => format!("/admin/goods/{id}?notice=sku_added"),
                })
                .map_err(|error| match sku_id {
                    Some(sku_id) => refused("sku", sku_id, error),
                    None => refused("new_sku", 0, error),
                }),
        ))
    }
    .await;
    editor_answer(shop, visit, ids.map(|(id, _)| id), form.typed(), outcome).await
}

/// `POST /admin/goods/{id}/images` (a multipart form with `file`): one more picture
/// (`add_image`: decoded, re-encoded without its metadata).
pub async fn add_image(
    State(shop): State<Shop>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<i64>, ApiError>,
    request: axum::extract::Request,
) -> Page {
    let id = path.ok().map(|Path(id)| id);
    let outcome = async {
        let actor = visit.actor()?;
        let id = id.ok_or_else(ApiError::not_found)?;
        menu_for(&actor, "goods")?;
        let added = async {
            let (_, file) = crate::pages::read_file_form(request).await?;
            let bytes = file.ok_or_else(|| {
                ApiError::invalid_field(
                    "invalid_image",
                    "file",
                    "file: 请选择图片 (choose a picture)",
                )
            })?;
            catalog::add_image(State(shop.clone()), actor.clone(), client, Path(id), bytes)
                .await
                .map(drop)
        }
        .await;
        Ok((
            actor,
            added
                .map(|()| format!("/admin/goods/{id}?notice=image_added#images"))
                .map_err(|error| refused("image", 0, error)),
        ))
    }
    .await;
    editor_answer(&shop, &visit, id, Default::default(), outcome).await
}

/// `POST /admin/goods/{id}/images/{key}/delete`: remove a picture (`delete_image`).
pub async fn remove_image(
    State(shop): State<Shop>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<(i64, String)>, ApiError>,
) -> Page {
    let outcome = async {
        let actor = visit.actor()?;
        let Path((id, key)) = path.map_err(|_| ApiError::not_found())?;
        // The editor shows the product again after the redirect.
        let _product =
            catalog::delete_image(State(shop.clone()), actor, client, Path((id, key))).await?;
        Ok(id)
    }
    .await;
    match outcome {
        Ok(id) => visit.redirect(&format!("/admin/goods/{id}?notice=image_removed#images")),
        Err(error) => visit.show::<OfficeProductView>(Err(error)),
    }
}

// ---- 商品资料: the catalogue's library ----------------------------------------------------

async fn library_view(
    shop: &Shop,
    actor: Actor,
    error: Option<RowError>,
    typed: std::collections::BTreeMap<String, String>,
) -> Result<OfficeLibraryView, ApiError> {
    let menu = menu_for(&actor, "catalogue")?;
    let state = || State(shop.clone());
    let categories = shop.store.catalog().list_categories().await?;
    let brands = shop.store.catalog().list_brands().await?;
    Ok(OfficeLibraryView {
        menu,
        categories: CategoryOption::tree(&categories),
        brands: brands.as_ref().clone(),
        units: catalog::list_units(state()).await?.0,
        unit_forms: library::list_unit_forms(state(), actor.clone()).await?.0,
        tags: shop.store.catalog().list_product_tags().await?,
        specs: library::list_spec_attributes(state(), actor.clone())
            .await?
            .0,
        levels: crate::members::list_levels(state(), actor).await?.0,
        error,
        typed,
    })
}

/// `GET /admin/catalogue`: the catalogue's library.
pub async fn library(State(shop): State<Shop>, visit: Visit) -> Page {
    let view = async { library_view(&shop, visit.actor()?, None, Default::default()).await }.await;
    visit.show(view)
}

/// The kinds of record the library keeps, as their forms name them.
const LIBRARY_KINDS: [&str; 7] = [
    "category",
    "brand",
    "unit",
    "unit_form",
    "tag",
    "spec",
    "level",
];

/// A spec attribute's values as typed: split at commas (either width), 、 or spaces.
fn choices_of(typed: &str) -> Vec<String> {
    typed
        .split([',', '，', '、', ' ', '\n'])
        .map(str::trim)
        .filter(|choice| !choice.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What one library form asks of the API: `kind` to add (`id` none), or `edit` or `delete`
/// the record `id`, through the handler the JSON API serves it with.
async fn library_change(
    shop: &Shop,
    actor: Actor,
    client: ClientInfo,
    kind: &str,
    target: Option<(i64, &str)>,
    form: &Fields,
) -> Result<(), ApiError> {
    use crate::catalog::handlers::{BrandInput, CategoryInput, UnitInput};
    use crate::catalog::library::{
        BrandPatch, CategoryPatch, ProductTagInput, SpecAttributeInput, SpecAttributePatch,
        UnitFormInput,
    };
    let state = State(shop.clone());
    let text = |name: &str| form.text(name).to_owned();
    let sort = form.optional_integer("sort")?;
    match (kind, target) {
        ("category", None) => catalog::create_category(
            state,
            actor,
            client,
            ApiJson(CategoryInput {
                name: text("name"),
                parent_id: form.optional_integer("parent_id")?,
                sort: sort.unwrap_or(0),
            }),
        )
        .await
        .map(drop),
        ("category", Some((id, "edit"))) => library::update_category(
            state,
            actor,
            client,
            Path(id),
            ApiJson(CategoryPatch {
                name: Some(text("name")),
                sort,
            }),
        )
        .await
        .map(drop),
        ("category", Some((id, "delete"))) => {
            library::delete_category(state, actor, client, Path(id))
                .await
                .map(drop)
        }
        ("brand", None) => catalog::create_brand(
            state,
            actor,
            client,
            ApiJson(BrandInput {
                name: text("name"),
                logo_url: Some(text("logo_url")).filter(|u| !u.is_empty()),
                description: text("description"),
            }),
        )
        .await
        .map(drop),
        ("brand", Some((id, "edit"))) => library::update_brand(
            state,
            actor,
            client,
            Path(id),
            ApiJson(BrandPatch {
                name: Some(text("name")),
                logo_url: Some(text("logo_url")),
                description: Some(text("description")),
            }),
        )
        .await
        .map(drop),
        ("brand", Some((id, "delete"))) => library::delete_brand(state, actor, client, Path(id))
            .await
            .map(drop),
        ("unit", None) => catalog::create_unit(
            state,
            actor,
            client,
            ApiJson(UnitInput {
                item_unit: text("item_unit"),
                inner_qty: form.integer("inner_qty")?,
                inner_unit: text("inner_unit"),
                outer_qty: form.integer("outer_qty")?,
                outer_unit: text("outer_unit"),
            }),
        )
        .await
        .map(drop),
        ("unit_form", None) => library::create_unit_form(
            state,
            actor,
            client,
            ApiJson(UnitFormInput {
                item_unit: text("item_unit"),
                pack_unit: text("pack_unit"),
            }),
        )
        .await
        .map(drop),
        ("tag", None) => library::create_product_tag(
            state,
            actor,
            client,
            ApiJson(ProductTagInput {
                name: text("name"),
                sort: sort.unwrap_or(0),
            }),
        )
        .await
        .map(drop),
        ("tag", Some((id, "delete"))) => {
            library::delete_product_tag(state, actor, client, Path(id))
                .await
                .map(drop)
        }
        ("spec", None) => library::create_spec_attribute(
            state,
            actor,
            client,
            ApiJson(SpecAttributeInput {
                name: text("name"),
                choices: choices_of(form.text("choices")),
                sort: sort.unwrap_or(0),
            }),
        )
        .await
        .map(drop),
        ("spec", Some((id, "edit"))) => library::update_spec_attribute(
            state,
            actor,
            client,
            Path(id),
            ApiJson(SpecAttributePatch {
                name: Some(text("name")),
                choices: Some(choices_of(form.text("choices"))),
                sort,
            }),
        )
        .await
        .map(drop),
        ("level", target) => {
            let input = ApiJson(crate::members::LevelInput {
                name: text("name"),
                rank: form.integer("rank")?,
                is_default: form.ticked("is_default"),
            });
            match target {
                None => crate::members::create_level(state, actor, client, input)
                    .await
                    .map(drop),
                Some((id, "edit")) => {
                    crate::members::update_level(state, actor, client, Path(id), input)
                        .await
                        .map(drop)
                }
                Some(_) => Err(ApiError::not_found()),
            }
        }
        _ => Err(ApiError::not_found()),
    }
}

/// `POST /admin/catalogue/brand/{id}/logo` (a multipart form with `file`): a new logo for the
/// brand, stored as a picture of the shop's (`images::store_picture`) and set through
/// `update_brand`; back to the brands, or the library with the refusal by the brand.
pub async fn brand_logo(
    State(shop): State<Shop>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<i64>, ApiError>,
    request: axum::extract::Request,
) -> Page {
    let outcome = async {
        let actor = visit.actor()?;
        menu_for(&actor, "catalogue")?;
        let Path(id) = path?;
        let done = async {
            let picture = super::picture_of(&shop, &actor, request, "logo").await?;
            library::update_brand(
                State(shop.clone()),
                actor.clone(),
                client,
                Path(id),
                ApiJson(library::BrandPatch {
                    logo_url: Some(picture.url),
                    ..library::BrandPatch::default()
                }),
            )
            .await
            .map(|_| "/admin/catalogue?notice=library_saved#brand".to_owned())
        }
        .await
        .map_err(|error| ("brand", error));
        Ok((actor, id, done))
    }
    .await;
    row_form(&visit, outcome, |actor, refused| async move {
        library_view(&shop, actor, Some(refused), Default::default()).await
    })
    .await
}

/// `POST /admin/catalogue/{kind}` (add) and `/admin/catalogue/{kind}/{id}/{action}` (`edit`,
/// `delete`): one change to the library; back to it, or the library with the refusal by
/// that form and what was typed in it.
pub async fn library_action(
    State(shop): State<Shop>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<Vec<String>>, ApiError>,
    body: Bytes,
) -> Page {
    let form = Fields::parse(&body);
    let outcome = async {
        let actor = visit.actor()?;
        menu_for(&actor, "catalogue")?;
        let Path(parts) = path.map_err(|_| ApiError::not_found())?;
        let (kind, target) = match parts.as_slice() {
            [kind] => (kind.as_str(), None),
            [kind, id, action] => (
                kind.as_str(),
                Some((
                    id.parse::<i64>().map_err(|_| ApiError::not_found())?,
                    action.as_str(),
                )),
            ),
            _ => return Err(ApiError::not_found()),
        };
        let kind = LIBRARY_KINDS
            .into_iter()
            .find(|k| *k == kind)
            .ok_or_else(ApiError::not_found)?;
        let done = library_change(&shop, actor.clone(), client, kind, target, &form)
            .await
            .map(|()| format!("/admin/catalogue?notice=library_saved#{kind}"))
            .map_err(|error| (kind, error));
        Ok((actor, target.map_or(0, |(id, _)| id), done))
    }
    .await;
    let typed = form.typed();
    row_form(&visit, outcome, |actor, refused| async move {
        library_view(&shop, actor, Some(refused), typed).await
    })
    .await
}
