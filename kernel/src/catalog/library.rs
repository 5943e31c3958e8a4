//! The catalogue's libraries, maintained by staff and used across the goods: product tags
//! (C1, C2), the spec library (规格库) whose attributes SKUs take, the packing forms units are
//! built from (C3; the seed's 14 ship as defaults), and editing or removing categories and
//! brands. Names that the search index holds (category, brand) reindex their goods on rename.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use utoipa::ToSchema;

use super::handlers::log;
use super::pricing::{Page, PriceView};
use super::{Brand, Category};
use crate::accounts::caller::MaybeActor;
use crate::accounts::parse_name;
use crate::accounts::permissions::{Actor, Permission};
use crate::accounts::sessions::ClientInfo;
use crate::edge::extract::Path;
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::shop::Shop;
use crate::store::{Change, StoreError, StoreResult, in_tx, on_pool};

/// A label the shop puts on goods (新品, 热卖, 工地专用 …); lists filter by it.
#[derive(Debug, Clone, Serialize, ToSchema, FromRow, PartialEq, Eq)]
pub struct ProductTag {
    pub id: i64,
    pub name: String,
    pub sort: i64,
}

/// An attribute of the spec library (颜色, 尺码 …) with the values a SKU may take.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct SpecAttribute {
    pub id: i64,
    pub name: String,
    pub choices: Vec<String>,
    pub sort: i64,
}

/// A packing form: so many item units per pack unit, 「X把/盒」.
#[derive(Debug, Clone, Serialize, ToSchema, FromRow, PartialEq, Eq)]
pub struct UnitForm {
    pub id: i64,
    /// 把, 桶, 瓶 …
    pub item_unit: String,
    /// 盒, 箱 …
    pub pack_unit: String,
}

impl UnitForm {
    /// 「X把/盒」
    pub fn label(&self) -> String {
        format!("X{}/{}", self.item_unit, self.pack_unit)
    }
}

/// What files goods: a category or a brand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Category,
    Brand,
}

impl Grouping {
    /// Its existence check, its usage count and its delete, each binding the id as `$1`.
    fn statements(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Grouping::Category => (
                "SELECT id FROM categories WHERE id = $1",
                "SELECT (SELECT COUNT(*) FROM categories WHERE parent_id = $1) + (SELECT COUNT(*) FROM products WHERE category_id = $1)",
                "DELETE FROM categories WHERE id = $1",
            ),
            Grouping::Brand => (
                "SELECT id FROM brands WHERE id = $1",
                "SELECT COUNT(*) FROM products WHERE brand_id = $1",
                "DELETE FROM brands WHERE id = $1",
            ),
        }
    }
}

/// Why a category or brand cannot go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    Missing,
    InUse,
}

#[derive(FromRow)]
struct SpecRow {
    id: i64,
    name: String,
    choices: String,
    sort: i64,
}

impl From<SpecRow> for SpecAttribute {
    fn from(row: SpecRow) -> Self {
        SpecAttribute {
            id: row.id,
            name: row.name,
            choices: serde_json::from_str(&row.choices).unwrap_or_default(),
            sort: row.sort,
        }
    }
}

impl super::CatalogStore<'_> {
    pub async fn insert_product_tag(self, name: &str, sort: i64, now_ms: i64) -> StoreResult<i64> {
        on_pool!(self, |pool| {
            sqlx::query_scalar("INSERT INTO product_tags (name, sort, created_at) VALUES ($1, $2, $3) RETURNING id")
                .bind(name)
                .bind(sort)
                .bind(now_ms)
                .fetch_one(pool)
                .await
                .map_err(StoreError::classify)
        })
    }

    pub async fn list_product_tags(self) -> StoreResult<Vec<ProductTag>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as("SELECT id, name, sort FROM product_tags ORDER BY sort, id")
                .fetch_all(pool)
                .await
        })?)
    }

    /// Removes a tag from the library and from every product carrying it; returns those
    /// products (to reindex), or `None` when there was no such tag.
    pub async fn delete_product_tag(self, id: i64) -> StoreResult<Option<Vec<i64>>> {
        let carrying = in_tx!(self, |tx| {
            let carrying: Vec<i64> =
                sqlx::query_scalar("SELECT product_id FROM product_tag_links WHERE tag_id = $1")
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await?;
            sqlx::query("DELETE FROM product_tag_links WHERE tag_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let deleted = sqlx::query("DELETE FROM product_tags WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            Ok::<_, StoreError>(deleted.then_some(carrying))
        })?;
        if carrying
            .as_ref()
            .is_some_and(|products| !products.is_empty())
        {
            // One message however many products carried it.
            self.changed(Change::Catalogue).await;
        }
        Ok(carrying)
    }

    pub async fn insert_spec_attribute(
        self,
        name: &str,
        choices: &[String],
        sort: i64,
        now_ms: i64,
    ) -> StoreResult<i64> {
        let choices =
            serde_json::to_string(choices).map_err(|e| StoreError::Other(e.to_string()))?;
        on_pool!(self, |pool| {
            sqlx::query_scalar("INSERT INTO spec_attributes (name, choices, sort, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
                .bind(name)
                .bind(&choices)
                .bind(sort)
                .bind(now_ms)
                .fetch_one(pool)
                .await
                .map_err(StoreError::classify)
        })
    }

    pub async fn list_spec_attributes(self) -> StoreResult<Vec<SpecAttribute>> {
        let rows: Vec<SpecRow> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT id, name, choices, sort FROM spec_attributes ORDER BY sort, id")
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(SpecAttribute::from).collect())
    }

    /// Renames an attribute or replaces its values; SKUs keep the values they were given.
    pub async fn update_spec_attribute(
        self,
        id: i64,
        name: Option<&str>,
        choices: Option<&[String]>,
        sort: Option<i64>,
    ) -> StoreResult<bool> {
        let choices = choices
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        on_pool!(self, |pool| {
            sqlx::query("UPDATE spec_attributes SET name = COALESCE($2, name), choices = COALESCE($3, choices), sort = COALESCE($4, sort) WHERE id = $1")
                .bind(id)
                .bind(name)
                .bind(&choices)
                .bind(sort)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1)
                .map_err(StoreError::classify)
        })
    }

    pub async fn list_unit_forms(self) -> StoreResult<Vec<UnitForm>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as("SELECT id, item_unit, pack_unit FROM unit_forms ORDER BY id")
                .fetch_all(pool)
                .await
        })?)
    }

    /// Adds a packing form; an existing one is returned as it is.
    pub async fn ensure_unit_form(self, item_unit: &str, pack_unit: &str) -> StoreResult<UnitForm> {
        let form: Option<UnitForm> = on_pool!(self, |pool| {
            sqlx::query("INSERT INTO unit_forms (item_unit, pack_unit) VALUES ($1, $2) ON CONFLICT (item_unit, pack_unit) DO NOTHING")
                .bind(item_unit)
                .bind(pack_unit)
                .execute(pool)
                .await?;
            sqlx::query_as("SELECT id, item_unit, pack_unit FROM unit_forms WHERE item_unit = $1 AND pack_unit = $2")
                .bind(item_unit)
                .bind(pack_unit)
                .fetch_optional(pool)
                .await
        })?;
        form.ok_or_else(|| StoreError::Other("unit form vanished".to_owned()))
    }

    pub async fn update_category(
        self,
        id: i64,
        name: Option<&str>,
        sort: Option<i64>,
    ) -> StoreResult<bool> {
        let found = on_pool!(self, |pool| {
            sqlx::query("UPDATE categories SET name = COALESCE($2, name), sort = COALESCE($3, sort) WHERE id = $1")
                .bind(id)
                .bind(name)
                .bind(sort)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1)
                .map_err(StoreError::classify)
        })?;
        self.changed(Change::Library).await;
        Ok(found)
    }

    /// Removes a category or brand that files nothing (no goods; for a category, no
    /// sub-categories either).
    pub async fn delete_grouping(self, grouping: Grouping, id: i64) -> StoreResult<Removal> {
        let (exists, usage, delete) = grouping.statements();
        let removal = in_tx!(self, |tx| {
            let found: Option<i64> = sqlx::query_scalar(exists)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Ok(Removal::Missing);
            }
            let used: i64 = sqlx::query_scalar(usage)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            if used > 0 {
                return Ok(Removal::InUse);
            }
            sqlx::query(delete).bind(id).execute(&mut *tx).await?;
            Ok::<_, StoreError>(Removal::Removed)
        })?;
        if matches!(removal, Removal::Removed) {
            self.changed(Change::Library).await;
        }
        Ok(removal)
    }

    pub async fn update_brand(
        self,
        id: i64,
        name: Option<&str>,
        logo_url: Option<Option<&str>>,
        description: Option<&str>,
    ) -> StoreResult<bool> {
        let found = on_pool!(self, |pool| {
            sqlx::query("UPDATE brands SET name = COALESCE($2, name), logo_url = CASE WHEN $3 THEN $4 ELSE logo_url END, description = COALESCE($5, description) WHERE id = $1")
                .bind(id)
                .bind(name)
                .bind(logo_url.is_some())
                .bind(logo_url.flatten())
                .bind(description)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1)
                .map_err(StoreError::classify)
        })?;
        self.changed(Change::Library).await;
        Ok(found)
    }

    /// The goods filed under a category (or its descendants) or a brand, for reindexing.
    async fn product_ids_under(
        self,
        category_id: Option<i64>,
        brand_id: Option<i64>,
    ) -> StoreResult<Vec<i64>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT p.id FROM products p WHERE p.brand_id = $2 OR p.category_id IN
                 (SELECT c1.id FROM categories c1 LEFT JOIN categories c2 ON c1.parent_id = c2.id WHERE c1.id = $1 OR c1.parent_id = $1 OR c2.parent_id = $1)",
            )
            .bind(category_id.unwrap_or(-1))
            .bind(brand_id.unwrap_or(-1))
            .fetch_all(pool)
            .await
        })?)
    }
}

/// Checks a SKU's attributes against the spec library: every name an attribute, every value
/// one of its choices. Fields are named `{prefix}attributes.{name}`.
pub fn check_attributes(
    library: &[SpecAttribute],
    attributes: &BTreeMap<String, String>,
    prefix: &str,
) -> ApiResult<()> {
    for (name, value) in attributes {
        let field = format!("{prefix}attributes.{name}");
        let attribute = library.iter().find(|a| &a.name == name).ok_or_else(|| {
            ApiError::invalid_field(
                "unknown_spec_attribute",
                &field,
                format!("{field}: 规格库中没有「{name}」 (not in the spec library)"),
            )
        })?;
        if !attribute.choices.contains(value) {
            return Err(ApiError::invalid_field(
                "unknown_spec_value",
                &field,
                format!(
                    "{field}: 「{name}」可选{} (one of its values)",
                    attribute.choices.join("、")
                ),
            ));
        }
    }
    Ok(())
}

/// The spec text a SKU shows when staff gave attributes but no text: values in library order.
pub fn spec_from_attributes(
    library: &[SpecAttribute],
    attributes: &BTreeMap<String, String>,
) -> String {
    library
        .iter()
        .filter_map(|a| attributes.get(&a.name))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The body of both delete routes: refuses a grouping still in use, logs the removal.
async fn remove_grouping(
    app: &Shop,
    actor: &Actor,
    client: &ClientInfo,
    grouping: Grouping,
    id: i64,
) -> ApiResult<StatusCode> {
    actor.require(Permission::ManageCatalog)?;
    let (code, message, action, kind) = match grouping {
        Grouping::Category => (
            "category_in_use",
            "分类下还有商品或子分类，不能删除 (still holds goods or sub-categories)",
            "category.delete",
            "category",
        ),
        Grouping::Brand => (
            "brand_in_use",
            "品牌下还有商品，不能删除 (still carried by goods)",
            "brand.delete",
            "brand",
        ),
    };
    match app.store.catalog().delete_grouping(grouping, id).await? {
        Removal::Removed => {}
        Removal::Missing => return Err(ApiError::not_found()),
        Removal::InUse => return Err(ApiError::new(StatusCode::CONFLICT, code, message)),
    }
    log(app, actor, client, action, kind, id, serde_json::json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- product tags ----------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductTagInput {
    pub name: String,
    #[serde(default)]
    pub sort: i64,
}

/// The product tags (public unless the shop hides behind its single page).
#[utoipa::path(get, path = "/product-tags", tag = "catalog", responses((status = 200, body = [ProductTag]), (status = 403, description = "`single_page`", body = crate::error::ErrorBody)), security((), ("bearer" = [])))]
pub async fn list_product_tags(
    State(app): State<Shop>,
    MaybeActor(actor): MaybeActor,
) -> ApiResult<Json<Vec<ProductTag>>> {
    PriceView::of(&app.store, actor.as_ref(), Page::List).await?;
    Ok(Json(app.store.catalog().list_product_tags().await?))
}

/// Add a product tag (admin).
#[utoipa::path(post, path = "/admin/product-tags", tag = "catalog", request_body = ProductTagInput,
    responses((status = 201, body = ProductTag), (status = 409, description = "`tag_taken`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_product_tag(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    ApiJson(input): ApiJson<ProductTagInput>,
) -> ApiResult<(StatusCode, Json<ProductTag>)> {
    actor.require(Permission::ManageCatalog)?;
    let name = parse_name(&input.name, "name", 20)?;
    let id = match app
        .store
        .catalog()
        .insert_product_tag(&name, input.sort, app.clock.now_ms())
        .await
    {
        Ok(id) => id,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                "tag_taken",
                "name",
                "标签已存在 (name: taken)",
            ));
        }
        Err(err) => return Err(err.into()),
    };
    log(
        &app,
        &actor,
        &client,
        "product_tag.create",
        "product_tag",
        id,
        serde_json::json!({ "name": name }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ProductTag {
            id,
            name,
            sort: input.sort,
        }),
    ))
}

/// Remove a product tag from the library and from every product (admin).
#[utoipa::path(delete, path = "/admin/product-tags/{id}", tag = "catalog", params(("id" = i64, Path)),
    responses((status = 204)), security(("bearer" = [])))]
pub async fn delete_product_tag(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    actor.require(Permission::ManageCatalog)?;
    let carrying = app
        .store
        .catalog()
        .delete_product_tag(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    app.store.catalog().reindex_products(&carrying).await?;
    log(
        &app,
        &actor,
        &client,
        "product_tag.delete",
        "product_tag",
        id,
        serde_json::json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks tag ids given for a product (`tag_ids`).
pub async fn parse_tag_ids(app: &Shop, ids: &[i64]) -> ApiResult<BTreeSet<i64>> {
    let known: BTreeSet<i64> = app
        .store
        .catalog()
        .list_product_tags()
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    let mut tags = BTreeSet::new();
    for (i, id) in ids.iter().enumerate() {
        if !known.contains(id) {
            return Err(ApiError::invalid_field(
                "unknown_tag",
                &format!("tag_ids[{i}]"),
                format!("tag_ids[{i}]: 标签不存在 (no such tag)"),
            ));
        }
        tags.insert(*id);
    }
    Ok(tags)
}

// ---- the spec library ------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecAttributeInput {
    pub name: String,
    pub choices: Vec<String>,
    #[serde(default)]
    pub sort: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecAttributePatch {
    pub name: Option<String>,
    pub choices: Option<Vec<String>>,
    pub sort: Option<i64>,
}

fn parse_choices(raw: &[String]) -> ApiResult<Vec<String>> {
    let mut choices: Vec<String> = Vec::new();
    for (i, choice) in raw.iter().enumerate() {
        let choice = parse_name(choice, &format!("choices[{i}]"), 20)?;
        if choices.contains(&choice) {
            return Err(ApiError::invalid_field(
                "invalid_input",
                &format!("choices[{i}]"),
                format!("choices[{i}]: 「{choice}」重复 (repeated)"),
            ));
        }
        choices.push(choice);
    }
    if choices.is_empty() || choices.len() > 100 {
        return Err(ApiError::invalid_field(
            "invalid_input",
            "choices",
            "choices: 须有1到100个可选值 (1 to 100 values)",
        ));
    }
    Ok(choices)
}

/// The spec library (规格库) SKUs take their attributes from (staff who maintain goods).
#[utoipa::path(get, path = "/admin/spec-attributes", tag = "catalog", responses((status = 200, body = [SpecAttribute])), security(("bearer" = [])))]
pub async fn list_spec_attributes(
    State(app): State<Shop>,
    actor: Actor,
) -> ApiResult<Json<Vec<SpecAttribute>>> {
    actor.require(Permission::ManageCatalog)?;
    Ok(Json(app.store.catalog().list_spec_attributes().await?))
}

/// Add an attribute with its values to the spec library (admin).
#[utoipa::path(post, path = "/admin/spec-attributes", tag = "catalog", request_body = SpecAttributeInput,
    responses((status = 201, body = SpecAttribute), (status = 409, description = "`spec_attribute_taken`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_spec_attribute(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    ApiJson(input): ApiJson<SpecAttributeInput>,
) -> ApiResult<(StatusCode, Json<SpecAttribute>)> {
    actor.require(Permission::ManageCatalog)?;
    let name = parse_name(&input.name, "name", 20)?;
    let choices = parse_choices(&input.choices)?;
    let id = match app
        .store
        .catalog()
        .insert_spec_attribute(&name, &choices, input.sort, app.clock.now_ms())
        .await
    {
        Ok(id) => id,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                "spec_attribute_taken",
                "name",
                "规格库已有此属性 (name: taken)",
            ));
        }
        Err(err) => return Err(err.into()),
    };
    log(
        &app,
        &actor,
        &client,
        "spec_attribute.create",
        "spec_attribute",
        id,
        serde_json::json!({ "name": name, "choices": choices }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(SpecAttribute {
            id,
            name,
            choices,
            sort: input.sort,
        }),
    ))
}

/// Rename an attribute or change its values (admin). SKUs keep the values they have.
#[utoipa::path(patch, path = "/admin/spec-attributes/{id}", tag = "catalog", params(("id" = i64, Path)), request_body = SpecAttributePatch,
    responses((status = 200, body = SpecAttribute), (status = 409, description = "`spec_attribute_taken`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn update_spec_attribute(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(patch): ApiJson<SpecAttributePatch>,
) -> ApiResult<Json<SpecAttribute>> {
    actor.require(Permission::ManageCatalog)?;
    let name = patch
        .name
        .as_deref()
        .map(|n| parse_name(n, "name", 20))
        .transpose()?;
    let choices = patch.choices.as_deref().map(parse_choices).transpose()?;
    match app
        .store
        .catalog()
        .update_spec_attribute(id, name.as_deref(), choices.as_deref(), patch.sort)
        .await
    {
        Ok(true) => {}
        Ok(false) => return Err(ApiError::not_found()),
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                "spec_attribute_taken",
                "name",
                "规格库已有此属性 (name: taken)",
            ));
        }
        Err(err) => return Err(err.into()),
    }
    log(
        &app,
        &actor,
        &client,
        "spec_attribute.update",
        "spec_attribute",
        id,
        serde_json::json!({ "name": name, "choices": choices }),
    )
    .await?;
    let attribute = app
        .store
        .catalog()
        .list_spec_attributes()
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(attribute))
}

// ---- packing forms ---------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitFormInput {
    pub item_unit: String,
    pub pack_unit: String,
}

/// A packing form with its label.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnitFormView {
    #[serde(flatten)]
    pub form: UnitForm,
    /// 「X把/盒」
    pub label: String,
}

impl UnitFormView {
    fn of(form: UnitForm) -> UnitFormView {
        UnitFormView {
            label: form.label(),
            form,
        }
    }
}

/// The packing forms units are built from: the seed's 14 (「X把/盒」「X把/箱」 … for 把 桶 瓶
/// 套 卷 个 扎) and any the shop added (staff who maintain goods).
#[utoipa::path(get, path = "/admin/unit-forms", tag = "catalog", responses((status = 200, body = [UnitFormView])), security(("bearer" = [])))]
pub async fn list_unit_forms(
    State(app): State<Shop>,
    actor: Actor,
) -> ApiResult<Json<Vec<UnitFormView>>> {
    actor.require(Permission::ManageCatalog)?;
    Ok(Json(
        app.store
            .catalog()
            .list_unit_forms()
            .await?
            .into_iter()
            .map(UnitFormView::of)
            .collect(),
    ))
}

/// Add a packing form (admin); adding one that exists returns it.
#[utoipa::path(post, path = "/admin/unit-forms", tag = "catalog", request_body = UnitFormInput,
    responses((status = 201, body = UnitFormView)), security(("bearer" = [])))]
pub async fn create_unit_form(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    ApiJson(input): ApiJson<UnitFormInput>,
) -> ApiResult<(StatusCode, Json<UnitFormView>)> {
    actor.require(Permission::ManageCatalog)?;
    let item_unit = parse_name(&input.item_unit, "item_unit", 4)?;
    let pack_unit = parse_name(&input.pack_unit, "pack_unit", 4)?;
    let form = app
        .store
        .catalog()
        .ensure_unit_form(&item_unit, &pack_unit)
        .await?;
    log(
        &app,
        &actor,
        &client,
        "unit_form.create",
        "unit_form",
        form.id,
        serde_json::json!({ "label": form.label() }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(UnitFormView::of(form))))
}

/// Refuses a unit whose inner pack or outer case is not a form of the library.
pub async fn check_unit_forms(
    app: &Shop,
    item_unit: &str,
    inner_unit: &str,
    outer_unit: &str,
) -> ApiResult<()> {
    let forms = app.store.catalog().list_unit_forms().await?;
    for (field, pack) in [("inner_unit", inner_unit), ("outer_unit", outer_unit)] {
        if !forms
            .iter()
            .any(|f| f.item_unit == item_unit && f.pack_unit == pack)
        {
            return Err(ApiError::invalid_field(
                "unknown_unit_form",
                field,
                format!(
                    "{field}: 单位库中没有「X{item_unit}/{pack}」，请先添加 (add the packing form first)"
                ),
            ));
        }
    }
    Ok(())
}

// ---- editing categories and brands -----------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryPatch {
    pub name: Option<String>,
    pub sort: Option<i64>,
}

/// Rename or reorder a category (admin); its goods are found by the new name at once.
#[utoipa::path(patch, path = "/admin/categories/{id}", tag = "catalog", params(("id" = i64, Path)), request_body = CategoryPatch,
    responses((status = 200, body = Category), (status = 409, description = "`category_taken`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn update_category(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(patch): ApiJson<CategoryPatch>,
) -> ApiResult<Json<Category>> {
    actor.require(Permission::ManageCatalog)?;
    let name = patch
        .name
        .as_deref()
        .map(|n| parse_name(n, "name", 30))
        .transpose()?;
    match app
        .store
        .catalog()
        .update_category(id, name.as_deref(), patch.sort)
        .await
    {
        Ok(true) => {}
        Ok(false) => return Err(ApiError::not_found()),
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                "category_taken",
                "name",
                "同级已有同名分类 (name: taken among its siblings)",
            ));
        }
        Err(err) => return Err(err.into()),
    }
    if name.is_some() {
        let ids = app
            .store
            .catalog()
            .product_ids_under(Some(id), None)
            .await?;
        app.store.catalog().reindex_products(&ids).await?;
    }
    log(
        &app,
        &actor,
        &client,
        "category.update",
        "category",
        id,
        serde_json::json!({ "name": name, "sort": patch.sort }),
    )
    .await?;
    let category = app
        .store
        .catalog()
        .list_categories()
        .await?
        .iter()
        .find(|c| c.id == id)
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(category))
}

/// Remove a category that holds no sub-categories and no goods (admin).
#[utoipa::path(delete, path = "/admin/categories/{id}", tag = "catalog", params(("id" = i64, Path)),
    responses((status = 204), (status = 409, description = "`category_in_use`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn delete_category(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    remove_grouping(&app, &actor, &client, Grouping::Category, id).await
}

#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandPatch {
    pub name: Option<String>,
    /// An empty string removes the logo.
    pub logo_url: Option<String>,
    pub description: Option<String>,
}

/// Change a brand's name, logo or description (admin).
#[utoipa::path(patch, path = "/admin/brands/{id}", tag = "catalog", params(("id" = i64, Path)), request_body = BrandPatch,
    responses((status = 200, body = Brand), (status = 409, description = "`brand_taken`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn update_brand(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(patch): ApiJson<BrandPatch>,
) -> ApiResult<Json<Brand>> {
    actor.require(Permission::ManageCatalog)?;
    let name = patch
        .name
        .as_deref()
        .map(|n| parse_name(n, "name", 50))
        .transpose()?;
    let description = patch.description.as_deref().map(str::trim);
    if description.is_some_and(|d| d.chars().count() > 2000) {
        return Err(ApiError::invalid_field(
            "invalid_input",
            "description",
            "description: 最多2000个字符 (at most 2000 characters)",
        ));
    }
    let logo_url = patch
        .logo_url
        .as_deref()
        .map(str::trim)
        .map(|l| (!l.is_empty()).then_some(l));
    match app
        .store
        .catalog()
        .update_brand(id, name.as_deref(), logo_url, description)
        .await
    {
        Ok(true) => {}
        Ok(false) => return Err(ApiError::not_found()),
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                "brand_taken",
                "name",
                "品牌已存在 (name: a brand with this name exists)",
            ));
        }
        Err(err) => return Err(err.into()),
    }
    if name.is_some() {
        let ids = app
            .store
            .catalog()
            .product_ids_under(None, Some(id))
            .await?;
        app.store.catalog().reindex_products(&ids).await?;
    }
    log(
        &app,
        &actor,
        &client,
        "brand.update",
        "brand",
        id,
        serde_json::json!({ "name": name }),
    )
    .await?;
    let brand = app
        .store
        .catalog()
        .list_brands()
        .await?
        .iter()
        .find(|b| b.id == id)
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(brand))
}

/// Remove a brand no product carries (admin).
#[utoipa::path(delete, path = "/admin/brands/{id}", tag = "catalog", params(("id" = i64, Path)),
    responses((status = 204), (status = 409, description = "`brand_in_use`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn delete_brand(
    State(app): State<Shop>,
    actor: Actor,
    client: ClientInfo,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    remove_grouping(&app, &actor, &client, Grouping::Brand, id).await
}
