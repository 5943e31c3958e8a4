//! Import and export of goods, SKUs, prices and stock as CSV or Excel (C5). One row per SKU,
//! Chinese column headers. An import is checked row by row first and every error is reported
//! with its row and column; only a file without errors is written, in one transaction.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::storage::{NewSku, write_breaks, write_level_prices};
use super::{LevelPrice, PriceBreak, Product};
use crate::error::ApiError;
use crate::jobs::{JobFile, Progress, off_runtime};
use crate::money::{format_yuan, parse_fen, parse_yuan};
use crate::store::{Change, Store, StoreError, StoreResult, in_tx};

pub const ITEM_NO: &str = "货号";
pub const NAME: &str = "商品名称";
pub const BRAND: &str = "品牌";
pub const CATEGORY: &str = "分类";
pub const UNIT: &str = "单位";
pub const MODEL: &str = "型号";
pub const SPEC: &str = "规格";
pub const BARCODE: &str = "条码";
pub const PRICE: &str = "价格";
pub const COST: &str = "成本价";
pub const STOCK: &str = "库存";
pub const BACKORDER: &str = "允许缺货";
pub const LOW_STOCK: &str = "预警库存";
pub const WEIGHT: &str = "重量(克)";
pub const BREAKS: &str = "阶梯价";
pub const ON_SHELF: &str = "上架";
pub const DESCRIPTION: &str = "描述";
/// Level price columns are named `等级价:<level name>`.
pub const LEVEL_PREFIX: &str = "等级价:";

const FIXED: [&str; 17] = [
    ITEM_NO,
    NAME,
    BRAND,
    CATEGORY,
    UNIT,
    MODEL,
    SPEC,
    BARCODE,
    PRICE,
    COST,
    STOCK,
    BACKORDER,
    LOW_STOCK,
    WEIGHT,
    BREAKS,
    ON_SHELF,
    DESCRIPTION,
];
const REQUIRED: [&str; 4] = [ITEM_NO, NAME, UNIT, PRICE];
pub const MAX_ROWS: usize = 100_000;

/// A cell as read: text, or a number from a spreadsheet.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
    Empty,
}

impl Cell {
    /// The cell as text: trimmed, whole spreadsheet numbers without a decimal point.
    pub(crate) fn text(&self) -> String {
        match self {
            Cell::Text(t) => t.trim().to_owned(),
            Cell::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            Cell::Number(n) => n.to_string(),
            Cell::Empty => String::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.text().is_empty()
    }
}

/// One problem in an import file. Rows count from 1 (the header).
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema, PartialEq, Eq)]
pub struct RowError {
    pub row: usize,
    pub column: String,
    pub code: String,
    pub message: String,
}

/// What an import changed.
#[derive(Debug, Clone, Default, Serialize, ToSchema, PartialEq, Eq)]
pub struct ImportSummary {
    pub products_created: usize,
    pub products_updated: usize,
    pub skus_created: usize,
    pub skus_updated: usize,
}

/// A product as the file describes it, names resolved to ids.
#[derive(Debug, Clone)]
pub struct ImportProduct {
    pub item_no: String,
    pub name: String,
    pub brand_id: Option<i64>,
    pub category_id: Option<i64>,
    pub unit_id: i64,
    pub on_shelf: Option<bool>,
    pub description: Option<String>,
    pub skus: Vec<NewSku>,
    /// Whether the file carries level prices / breaks (absent columns keep what is stored).
    pub has_level_prices: bool,
    pub has_breaks: bool,
}

/// What the file's names are checked against.
pub struct Lookups {
    pub brands: Vec<(i64, String)>,
    /// (id, "劳保用品/头部防护/安全帽")
    pub categories: Vec<(i64, String)>,
    /// (id, "10个/盒 - 50个/箱")
    pub units: Vec<(i64, String)>,
    pub levels: Vec<(i64, String)>,
    /// Barcode → item number of the product holding it now.
    pub barcodes: BTreeMap<String, String>,
}

/// Reads a CSV (UTF-8, with or without BOM) or an .xlsx (first sheet) into rows of cells.
pub fn read_table(bytes: &[u8]) -> Result<Vec<Vec<Cell>>, String> {
    if bytes.starts_with(b"PK\x03\x04") {
        use calamine::Reader;
        let mut workbook: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes))
                .map_err(|e| format!("不是有效的 Excel 文件 (not a valid .xlsx: {e})"))?;
        let first = workbook
            .sheet_names()
            .first()
            .cloned()
            .ok_or("Excel 文件没有工作表 (no worksheet)")?;
        let range = workbook
            .worksheet_range(&first)
            .map_err(|e| format!("无法读取工作表 (cannot read the sheet: {e})"))?;
        Ok(range
            .rows()
            .map(|row| {
                row.iter()
                    .map(|cell| match cell {
                        calamine::Data::Empty => Cell::Empty,
                        calamine::Data::Int(i) => Cell::Number(*i as f64),
                        calamine::Data::Float(f) => Cell::Number(*f),
                        calamine::Data::Bool(b) => {
                            Cell::Text(if *b { "是" } else { "否" }.to_owned())
                        }
                        other => Cell::Text(other.to_string()),
                    })
                    .collect()
            })
            .collect())
    } else {
        let text = std::str::from_utf8(bytes).map_err(|_| {
            "文件须为 UTF-8 编码的 CSV 或 Excel (.xlsx) (CSV must be UTF-8)".to_owned()
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| format!("CSV 格式错误 (CSV: {e})"))?;
            rows.push(
                record
                    .iter()
                    .map(|c| {
                        if c.trim().is_empty() {
                            Cell::Empty
                        } else {
                            Cell::Text(c.to_owned())
                        }
                    })
                    .collect(),
            );
        }
        Ok(rows)
    }
}

/// Money from a cell: text "12.30" exactly, or a spreadsheet number (12.3) to the fen.
fn money(cell: &Cell, column: &str) -> Result<i64, (&'static str, String)> {
    let fail = |e: crate::error::ApiError| (e.code, e.message);
    match cell {
        Cell::Number(n) => {
            let fen = (n * 100.0).round();
            if (n * 100.0 - fen).abs() > 1e-6 || !(0.0..=1e12).contains(&fen) {
                return Err((
                    "invalid_money",
                    format!("{column}: 金额最多两位小数 (at most two decimals)"),
                ));
            }
            parse_fen(fen as i64, column).map_err(fail)
        }
        other => parse_yuan(&other.text(), column).map_err(fail),
    }
}

fn count(cell: &Cell, column: &str) -> Result<i64, (&'static str, String)> {
    let text = cell.text();
    match text.parse::<i64>() {
        Ok(n) if (0..=1_000_000_000).contains(&n) => Ok(n),
        _ => Err((
            "invalid_number",
            format!("{column}: 须为0到1000000000的整数 (a whole number)"),
        )),
    }
}

fn yes_no(cell: &Cell, column: &str) -> Result<bool, (&'static str, String)> {
    match cell.text().to_lowercase().as_str() {
        "是" | "y" | "yes" | "true" | "1" => Ok(true),
        "否" | "n" | "no" | "false" | "0" => Ok(false),
        _ => Err((
            "invalid_input",
            format!("{column}: 填“是”或“否” (yes or no)"),
        )),
    }
}

/// "100:26.00;500:24.00" → breaks.
fn breaks(cell: &Cell, column: &str) -> Result<Vec<PriceBreak>, (&'static str, String)> {
    let mut out: Vec<PriceBreak> = Vec::new();
    for part in cell
        .text()
        .split([';', '；'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (qty, price) = part.split_once([':', '：']).ok_or((
            "invalid_break",
            format!("{column}: 格式如 100:26.00;500:24.00 (qty:price pairs)"),
        ))?;
        let min_qty: i64 = qty.trim().parse().ok().filter(|q| *q >= 1).ok_or((
            "invalid_break",
            format!("{column}: 阶梯数量须为正整数 (positive quantity)"),
        ))?;
        if out.iter().any(|b| b.min_qty == min_qty) {
            return Err((
                "invalid_break",
                format!("{column}: 阶梯数量重复 (repeated quantity {min_qty})"),
            ));
        }
        out.push(PriceBreak {
            min_qty,
            price_fen: money(&Cell::Text(price.to_owned()), column)?,
        });
    }
    out.sort_by_key(|b| b.min_qty);
    Ok(out)
}

/// Checks every row of a table against the catalogue; either every product to write, or every
/// error found.
pub fn parse_import(
    rows: &[Vec<Cell>],
    lookups: &Lookups,
    progress: &Progress,
) -> Result<Vec<ImportProduct>, Vec<RowError>> {
    let mut errors = Vec::new();
    let err =
        |errors: &mut Vec<RowError>, row: usize, column: &str, (code, message): (&str, String)| {
            errors.push(RowError {
                row,
                column: column.to_owned(),
                code: code.to_owned(),
                message,
            });
        };
    let Some(header) = rows.first() else {
        return Err(vec![RowError {
            row: 1,
            column: String::new(),
            code: "empty_file".into(),
            message: "文件为空 (the file is empty)".into(),
        }]);
    };
    let header: Vec<String> = header.iter().map(Cell::text).collect();
    for (index, row) in rows.iter().enumerate().take(MAX_ROWS + 1) {
        for (column, cell) in row.iter().enumerate() {
            if let Some(c) = crate::text::control_char(&cell.text()) {
                let name = header.get(column).map_or("", String::as_str);
                err(
                    &mut errors,
                    index + 1,
                    name,
                    (
                        "invalid_text",
                        format!(
                            "{name}: 含有不可见的控制字符 (control character U+{:04X})",
                            u32::from(c)
                        ),
                    ),
                );
            }
        }
    }
    let mut level_columns = Vec::new();
    for (index, name) in header.iter().enumerate() {
        if let Some(level) = name.strip_prefix(LEVEL_PREFIX) {
            match lookups.levels.iter().find(|(_, n)| n == level) {
                Some((id, _)) => level_columns.push((index, *id, name.clone())),
                None => err(
                    &mut errors,
                    1,
                    name,
                    (
                        "unknown_level",
                        format!("{name}: 没有这个会员等级 (no such level)"),
                    ),
                ),
            }
        } else if !FIXED.contains(&name.as_str()) && !name.is_empty() {
            err(
                &mut errors,
                1,
                name,
                (
                    "unknown_column",
                    format!("未知的列: {name} (unknown column)"),
                ),
            );
        }
    }
    for required in REQUIRED {
        if !header.iter().any(|h| h == required) {
            err(
                &mut errors,
                1,
                required,
                (
                    "missing_column",
                    format!("缺少必填列: {required} (required column missing)"),
                ),
            );
        }
    }
    if rows.len() > MAX_ROWS + 1 {
        err(
            &mut errors,
            MAX_ROWS + 2,
            "",
            (
                "too_many_rows",
                format!("一次最多导入{MAX_ROWS}行 (at most {MAX_ROWS} rows)"),
            ),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let column = |name: &str| header.iter().position(|h| h == name);
    let has = |name: &str| column(name).is_some();
    let empty = Cell::Empty;

    let mut products: Vec<ImportProduct> = Vec::new();
    let mut seen_barcodes: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_item_no: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    progress.stage(
        "checking",
        u64::try_from(rows.len().saturating_sub(1)).unwrap_or(0),
    );
    for (index, row) in rows.iter().enumerate().skip(1) {
        progress.advance(1);
        let line = index + 1;
        let cell = |name: &str| column(name).and_then(|i| row.get(i)).unwrap_or(&empty);
        if row.iter().all(Cell::is_empty) {
            continue;
        }
        let before = errors.len();
        let item_no = cell(ITEM_NO).text();
        if item_no.is_empty() || item_no.chars().count() > 40 {
            err(
                &mut errors,
                line,
                ITEM_NO,
                (
                    "invalid_input",
                    format!("{ITEM_NO}: 必填，最多40个字符 (required)"),
                ),
            );
        }
        let name = cell(NAME).text();
        if name.is_empty() || name.chars().count() > 100 {
            err(
                &mut errors,
                line,
                NAME,
                (
                    "invalid_input",
                    format!("{NAME}: 必填，最多100个字符 (required)"),
                ),
            );
        }
        let unit_label = cell(UNIT).text();
        let unit_id = lookups
            .units
            .iter()
            .find(|(_, l)| l.replace(' ', "") == unit_label.replace(' ', ""))
            .map(|(id, _)| *id);
        if unit_id.is_none() {
            err(
                &mut errors,
                line,
                UNIT,
                (
                    "unknown_unit",
                    format!("{UNIT}: 单位库中没有「{unit_label}」 (not in the unit library)"),
                ),
            );
        }
        let brand_id = match cell(BRAND).text() {
            b if b.is_empty() => None,
            b => match lookups.brands.iter().find(|(_, n)| *n == b) {
                Some((id, _)) => Some(*id),
                None => {
                    err(
                        &mut errors,
                        line,
                        BRAND,
                        (
                            "unknown_brand",
                            format!("{BRAND}: 没有品牌「{b}」 (no such brand)"),
                        ),
                    );
                    None
                }
            },
        };
        let category_id = match cell(CATEGORY).text() {
            c if c.is_empty() => None,
            c => match lookups
                .categories
                .iter()
                .find(|(_, path)| *path == c.replace(" / ", "/"))
            {
                Some((id, _)) => Some(*id),
                None => {
                    err(
                        &mut errors,
                        line,
                        CATEGORY,
                        (
                            "unknown_category",
                            format!(
                                "{CATEGORY}: 没有分类「{c}」，请写完整路径如 劳保用品/头部防护/安全帽 (full path)"
                            ),
                        ),
                    );
                    None
                }
            },
        };
        let price = money(cell(PRICE), PRICE)
            .map_err(|e| err(&mut errors, line, PRICE, e))
            .ok();
        let cost = (!cell(COST).is_empty())
            .then(|| {
                money(cell(COST), COST)
                    .map_err(|e| err(&mut errors, line, COST, e))
                    .ok()
            })
            .flatten();
        let stock = if cell(STOCK).is_empty() {
            Some(0)
        } else {
            count(cell(STOCK), STOCK)
                .map_err(|e| err(&mut errors, line, STOCK, e))
                .ok()
        };
        let low_stock = (!cell(LOW_STOCK).is_empty())
            .then(|| {
                count(cell(LOW_STOCK), LOW_STOCK)
                    .map_err(|e| err(&mut errors, line, LOW_STOCK, e))
                    .ok()
            })
            .flatten();
        let weight = (!cell(WEIGHT).is_empty())
            .then(|| {
                count(cell(WEIGHT), WEIGHT)
                    .map_err(|e| err(&mut errors, line, WEIGHT, e))
                    .ok()
            })
            .flatten();
        let backorder = if cell(BACKORDER).is_empty() {
            Some(false)
        } else {
            yes_no(cell(BACKORDER), BACKORDER)
                .map_err(|e| err(&mut errors, line, BACKORDER, e))
                .ok()
        };
        let on_shelf = (!cell(ON_SHELF).is_empty())
            .then(|| {
                yes_no(cell(ON_SHELF), ON_SHELF)
                    .map_err(|e| err(&mut errors, line, ON_SHELF, e))
                    .ok()
            })
            .flatten();
        let sku_breaks = breaks(cell(BREAKS), BREAKS)
            .map_err(|e| err(&mut errors, line, BREAKS, e))
            .unwrap_or_default();
        let mut level_prices = Vec::new();
        for (index, level_id, header_name) in &level_columns {
            let value = row.get(*index).unwrap_or(&empty);
            if !value.is_empty()
                && let Ok(price_fen) =
                    money(value, header_name).map_err(|e| err(&mut errors, line, header_name, e))
            {
                level_prices.push(LevelPrice {
                    level_id: *level_id,
                    price_fen,
                });
            }
        }
        let barcode = Some(cell(BARCODE).text()).filter(|b| !b.is_empty());
        if let Some(code) = &barcode {
            if code.len() > 32 || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                err(
                    &mut errors,
                    line,
                    BARCODE,
                    (
                        "invalid_barcode",
                        format!("{BARCODE}: 只能包含字母、数字和-，最多32位 (letters, digits, -)"),
                    ),
                );
            } else if let Some(first) = seen_barcodes.insert(code.clone(), line) {
                err(
                    &mut errors,
                    line,
                    BARCODE,
                    (
                        "barcode_taken",
                        format!("{BARCODE}: 与第{first}行重复 (repeats row {first})"),
                    ),
                );
            } else if lookups
                .barcodes
                .get(code)
                .is_some_and(|owner| *owner != item_no)
            {
                err(
                    &mut errors,
                    line,
                    BARCODE,
                    (
                        "barcode_taken",
                        format!("{BARCODE}: 已被其他商品使用 (used by another product)"),
                    ),
                );
            }
        }
        if errors.len() > before {
            continue;
        }
        let (Some(unit_id), Some(price_fen), Some(stock), Some(allow_backorder)) =
            (unit_id, price, stock, backorder)
        else {
            continue;
        };
        let sku = NewSku {
            attributes: Default::default(),
            model: cell(MODEL).text(),
            spec: cell(SPEC).text(),
            price_fen,
            cost_fen: cost,
            stock,
            allow_backorder,
            low_stock_threshold: low_stock,
            weight_g: weight,
            barcode,
            level_prices,
            breaks: sku_breaks,
        };
        // An index, not a search of the products so far: 100,000 rows would make that
        // quadratic (8 s of the check's 8.5 in the measured import).
        match by_item_no
            .get(&item_no)
            .copied()
            .and_then(|i| products.get_mut(i))
        {
            Some(product) if product.name != name || product.unit_id != unit_id => {
                err(
                    &mut errors,
                    line,
                    NAME,
                    (
                        "inconsistent_product",
                        format!(
                            "同一货号 {item_no} 的商品名称和单位须一致 (rows of one item number must agree)"
                        ),
                    ),
                );
            }
            Some(product) => {
                if product
                    .skus
                    .iter()
                    .any(|s| s.model == sku.model && s.spec == sku.spec && s.barcode == sku.barcode)
                {
                    err(
                        &mut errors,
                        line,
                        SPEC,
                        (
                            "duplicate_sku",
                            format!("货号 {item_no} 的这个型号/规格重复 (repeated SKU)"),
                        ),
                    );
                } else {
                    product.skus.push(sku);
                }
            }
            None => {
                by_item_no.insert(item_no.clone(), products.len());
                products.push(ImportProduct {
                    item_no,
                    name,
                    brand_id,
                    category_id,
                    unit_id,
                    on_shelf,
                    description: has(DESCRIPTION).then(|| cell(DESCRIPTION).text()),
                    skus: vec![sku],
                    has_level_prices: !level_columns.is_empty(),
                    has_breaks: has(BREAKS),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(products)
    } else {
        Err(errors)
    }
}

impl super::CatalogStore<'_> {
    /// Writes an import in one transaction: products by item number, SKUs by barcode (else by
    /// model and spec) are updated where they exist and created where not. Returns what changed
    /// and the ids of the products touched.
    pub async fn import_catalogue(
        self,
        products: &[ImportProduct],
        now_ms: i64,
        progress: &Progress,
    ) -> StoreResult<(ImportSummary, Vec<i64>)> {
        let outcome = in_tx!(self, |tx| {
            let mut summary = ImportSummary::default();
            let mut touched = Vec::new();
            progress.stage("writing", u64::try_from(products.len()).unwrap_or(0));
            for product in products {
                progress.advance(1);
                let existing: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM products WHERE item_no = $1")
                        .bind(&product.item_no)
                        .fetch_optional(&mut *tx)
                        .await?;
                let product_id: i64 = match existing {
                    Some(id) => {
                        sqlx::query("UPDATE products SET name = $2, brand_id = COALESCE($3, brand_id), category_id = COALESCE($4, category_id), unit_id = $5, on_shelf = COALESCE($6, on_shelf), description = COALESCE($7, description), updated_at = $8, revision = revision + 1 WHERE id = $1")
                            .bind(id).bind(&product.name).bind(product.brand_id).bind(product.category_id).bind(product.unit_id).bind(product.on_shelf).bind(&product.description).bind(now_ms)
                            .execute(&mut *tx).await?;
                        summary.products_updated += 1;
                        id
                    }
                    None => {
                        summary.products_created += 1;
                        sqlx::query_scalar("INSERT INTO products (item_no, name, description, brand_id, category_id, unit_id, on_shelf, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id")
                            .bind(&product.item_no).bind(&product.name).bind(product.description.clone().unwrap_or_default()).bind(product.brand_id).bind(product.category_id).bind(product.unit_id).bind(product.on_shelf.unwrap_or(true)).bind(now_ms)
                            .fetch_one(&mut *tx).await.map_err(StoreError::classify)?
                    }
                };
                touched.push(product_id);
                for (sort, sku) in product.skus.iter().enumerate() {
                    let found: Option<i64> = match &sku.barcode {
                        Some(code) => sqlx::query_scalar("SELECT id FROM skus WHERE product_id = $1 AND barcode = $2").bind(product_id).bind(code).fetch_optional(&mut *tx).await?,
                        None => sqlx::query_scalar("SELECT id FROM skus WHERE product_id = $1 AND model = $2 AND spec = $3 ORDER BY id LIMIT 1").bind(product_id).bind(&sku.model).bind(&sku.spec).fetch_optional(&mut *tx).await?,
                    };
                    let sku_id: i64 = match found {
                        Some(id) => {
                            sqlx::query("UPDATE skus SET model = $2, spec = $3, price_fen = $4, cost_fen = COALESCE($5, cost_fen), stock = $6, stock_seq = stock_seq + 1, allow_backorder = $7, low_stock_threshold = COALESCE($8, low_stock_threshold), weight_g = COALESCE($9, weight_g), barcode = COALESCE($10, barcode) WHERE id = $1")
                                .bind(id).bind(&sku.model).bind(&sku.spec).bind(sku.price_fen).bind(sku.cost_fen).bind(sku.stock).bind(sku.allow_backorder).bind(sku.low_stock_threshold).bind(sku.weight_g).bind(&sku.barcode)
                                .execute(&mut *tx).await.map_err(StoreError::classify)?;
                            summary.skus_updated += 1;
                            id
                        }
                        None => {
                            summary.skus_created += 1;
                            sqlx::query_scalar("INSERT INTO skus (product_id, model, spec, price_fen, cost_fen, stock, allow_backorder, low_stock_threshold, weight_g, barcode, sort) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id")
                                .bind(product_id).bind(&sku.model).bind(&sku.spec).bind(sku.price_fen).bind(sku.cost_fen).bind(sku.stock).bind(sku.allow_backorder).bind(sku.low_stock_threshold).bind(sku.weight_g).bind(&sku.barcode).bind(i64::try_from(sort).unwrap_or(0))
                                .fetch_one(&mut *tx).await.map_err(StoreError::classify)?
                        }
                    };
                    if product.has_level_prices {
                        write_level_prices!(tx, sku_id, &sku.level_prices);
                    }
                    if product.has_breaks {
                        write_breaks!(tx, sku_id, &sku.breaks);
                    }
                }
            }
            Ok::<_, StoreError>((summary, touched))
        })?;
        self.changed(Change::Catalogue).await;
        Ok(outcome)
    }
}

/// The header row of an export: the fixed columns, then one per level.
pub fn export_header(levels: &[(i64, String)]) -> Vec<String> {
    let mut header: Vec<String> = FIXED.iter().map(|c| (*c).to_owned()).collect();
    header.extend(
        levels
            .iter()
            .map(|(_, name)| format!("{LEVEL_PREFIX}{name}")),
    );
    header
}

/// One row per SKU, as text, in `export_header`'s order.
pub fn export_rows(products: &[Product], lookups: &Lookups) -> Vec<Vec<String>> {
    let name_of = |list: &[(i64, String)], id: Option<i64>| {
        id.and_then(|id| list.iter().find(|(i, _)| *i == id))
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    };
    let yes = |b: bool| if b { "是" } else { "否" }.to_owned();
    let mut rows = Vec::new();
    for product in products {
        for sku in &product.skus {
            let mut row = vec![
                product.item_no.clone(),
                product.name.clone(),
                name_of(&lookups.brands, product.brand_id),
                name_of(&lookups.categories, product.category_id),
                product.unit.label(),
                sku.model.clone(),
                sku.spec.clone(),
                sku.barcode.clone().unwrap_or_default(),
                format_yuan(sku.price_fen),
                sku.cost_fen.map(format_yuan).unwrap_or_default(),
                sku.stock.to_string(),
                yes(sku.allow_backorder),
                sku.low_stock_threshold
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                sku.weight_g.map(|w| w.to_string()).unwrap_or_default(),
                sku.breaks
                    .iter()
                    .map(|b| format!("{}:{}", b.min_qty, format_yuan(b.price_fen)))
                    .collect::<Vec<_>>()
                    .join(";"),
                yes(product.on_shelf),
                product.description.clone(),
            ];
            for (level_id, _) in &lookups.levels {
                row.push(
                    sku.level_prices
                        .iter()
                        .find(|lp| lp.level_id == *level_id)
                        .map(|lp| format_yuan(lp.price_fen))
                        .unwrap_or_default(),
                );
            }
            rows.push(row);
        }
    }
    rows
}

/// A spreadsheet's format, as `format=` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SheetFormat {
    Xlsx,
    Csv,
}

impl SheetFormat {
    /// `xlsx` (also when not given) or `csv`; anything else refused by its field.
    pub fn parse(format: Option<&str>) -> Result<SheetFormat, ApiError> {
        match format.map(str::trim) {
            None | Some("" | "xlsx") => Ok(SheetFormat::Xlsx),
            Some("csv") => Ok(SheetFormat::Csv),
            Some(_) => Err(ApiError::invalid_field(
                "invalid_input",
                "format",
                "format: xlsx 或 csv",
            )),
        }
    }
}

/// A table to write as a spreadsheet: its sheet's name, its header and its rows.
pub struct Sheet {
    pub name: &'static str,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Sheet {
    /// The table as the file `{stem}.xlsx` or `{stem}.csv`, written on a blocking thread (a
    /// hundred thousand rows keep a core busy for seconds), advancing `progress` a row at a
    /// time.
    pub async fn write(
        self,
        format: SheetFormat,
        stem: &'static str,
        progress: &Progress,
    ) -> Result<JobFile, ApiError> {
        let progress = progress.clone();
        off_runtime(move || {
            progress.stage("writing", u64::try_from(self.rows.len()).unwrap_or(0));
            Ok(match format {
                SheetFormat::Xlsx => JobFile {
                    name: format!("{stem}.xlsx"),
                    content_type: XLSX,
                    bytes: self.to_xlsx(&progress).map_err(ApiError::internal)?.into(),
                },
                SheetFormat::Csv => JobFile {
                    name: format!("{stem}.csv"),
                    content_type: "text/csv; charset=utf-8",
                    bytes: self
                        .to_csv(&progress)
                        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?
                        .into(),
                },
            })
        })
        .await?
    }

    /// UTF-8 with a byte-order mark, which Excel needs to read Chinese from a CSV.
    fn to_csv(&self, progress: &Progress) -> Result<Vec<u8>, csv::Error> {
        let mut writer = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
        writer.write_record(&self.header)?;
        for row in &self.rows {
            writer.write_record(row)?;
            progress.advance(1);
        }
        writer
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))
    }

    fn to_xlsx(&self, progress: &Progress) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        sheet.set_name(self.name)?;
        for (col, name) in self.header.iter().enumerate() {
            sheet.write_string(0, u16::try_from(col).unwrap_or(u16::MAX), name)?;
        }
        for (r, row) in self.rows.iter().enumerate() {
            for (col, value) in row.iter().enumerate() {
                sheet.write_string(
                    u32::try_from(r + 1).unwrap_or(u32::MAX),
                    u16::try_from(col).unwrap_or(u16::MAX),
                    value,
                )?;
            }
            progress.advance(1);
        }
        workbook.save_to_buffer()
    }
}

/// The media type of an .xlsx workbook.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Names for lookups: brand names, category paths, unit labels, level names, barcodes.
pub async fn lookups(store: &Store) -> StoreResult<Lookups> {
    let categories = store.catalog().list_categories().await?;
    let path = |id: i64| super::category_path(&categories, Some(id)).join("/");
    let barcodes = store.catalog().barcode_owners().await?;
    Ok(Lookups {
        brands: store
            .catalog()
            .list_brands()
            .await?
            .iter()
            .map(|b| (b.id, b.name.clone()))
            .collect(),
        categories: categories.iter().map(|c| (c.id, path(c.id))).collect(),
        units: store
            .catalog()
            .list_units()
            .await?
            .into_iter()
            .map(|u| (u.id, u.label()))
            .collect(),
        levels: store
            .members()
            .list_levels()
            .await?
            .into_iter()
            .map(|l| (l.id, l.name))
            .collect(),
        barcodes,
    })
}

impl super::CatalogStore<'_> {
    /// Every barcode with the item number of its product.
    pub async fn barcode_owners(self) -> StoreResult<BTreeMap<String, String>> {
        let rows: Vec<(String, String)> = crate::store::on_pool!(self, |pool| {
            sqlx::query_as("SELECT s.barcode, p.item_no FROM skus s JOIN products p ON p.id = s.product_id WHERE s.barcode IS NOT NULL").fetch_all(pool).await
        })?;
        Ok(rows.into_iter().collect())
    }
}
