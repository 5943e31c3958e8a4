//! The office's goods pages (商品): the list of every product, on the shelf and off it, and
//! one product's editor — its fields, SKUs with level prices and breaks, pictures.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{MenuEntry, RowError, sample_menu};
use crate::catalog::handlers::UnitView;
use crate::catalog::library::ProductTag;
use crate::catalog::{Brand, Category, LevelPrice, PriceBreak, Product, Sku, Unit};
use crate::ids::{ProductId, SkuId};
use crate::members::Level;
use crate::themes::views::{FormError, PageView};

/// A category in a select, indented by its depth (1 to 3), in the tree's order.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryOption {
    pub id: i64,
    pub name: String,
    pub depth: i64,
}

impl CategoryOption {
    /// Every category, each after its parent, in the catalogue's order.
    pub fn tree(all: &[Category]) -> Vec<CategoryOption> {
        fn below(all: &[Category], parent: Option<i64>, out: &mut Vec<CategoryOption>) {
            for category in all.iter().filter(|c| c.parent_id == parent) {
                out.push(CategoryOption {
                    id: category.id,
                    name: category.name.clone(),
                    depth: category.depth,
                });
                // Depth is at most three, so this ends; a parent cycle cannot be stored.
                if category.depth < 3 {
                    below(all, Some(category.id), out);
                }
            }
        }
        let mut out = Vec::with_capacity(all.len());
        below(all, None, &mut out);
        out
    }
}

/// One product in the list: its names resolved, its stock summed and its price range.
#[derive(Debug, Clone, Serialize)]
pub struct GoodsRow {
    pub product: Product,
    pub category: Option<String>,
    pub brand: Option<String>,
    /// Every SKU's stock, summed.
    pub stock: i64,
    /// The lowest and highest list price of its SKUs.
    pub lowest_price_fen: i64,
    pub highest_price_fen: i64,
}

impl GoodsRow {
    pub fn of(product: Product, categories: &[Category], brands: &[Brand]) -> GoodsRow {
        let prices = product.skus.iter().map(|sku| sku.price_fen);
        GoodsRow {
            category: product.category_id.and_then(|id| {
                categories
                    .iter()
                    .find(|c| c.id == id)
                    .map(|c| c.name.clone())
            }),
            brand: product
                .brand_id
                .and_then(|id| brands.iter().find(|b| b.id == id).map(|b| b.name.clone())),
            stock: product
                .skus
                .iter()
                .fold(0_i64, |sum, sku| sum.saturating_add(sku.stock)),
            lowest_price_fen: prices.clone().min().unwrap_or(0),
            highest_price_fen: prices.max().unwrap_or(0),
            product,
        }
    }
}

/// `goods.html`: every product, searched (words, initials, item number, barcode) and
/// filtered by category and shelf, 50 a page, each to open, shelve or unshelve; the
/// catalogue's export and the import form.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeGoodsView {
    pub menu: Vec<MenuEntry>,
    /// The filters as given: `q`, `category_id`, `shelf` (`on`, `off` or empty).
    pub q: String,
    pub category_id: Option<i64>,
    pub shelf: String,
    pub rows: Vec<GoodsRow>,
    pub total: i64,
    pub next_href: Option<String>,
    pub previous_href: Option<String>,
    pub categories: Vec<CategoryOption>,
    /// This list's address, where a row's shelf form comes back to.
    pub back: String,
    /// An import or export refused before it started (no file, too many jobs running); the
    /// work itself goes on on its job's page.
    pub transfer_error: Option<FormError>,
    /// A refused shelf change, beside its row.
    pub error: Option<RowError>,
}

/// `product.html`: one product's editor (or a new product's form): its fields, each SKU's
/// form with level prices and quantity breaks, a form for one more SKU, its pictures.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeProductView {
    pub menu: Vec<MenuEntry>,
    /// None: the form for a new product (with its first SKU).
    pub product: Option<Product>,
    pub categories: Vec<CategoryOption>,
    pub brands: Vec<Brand>,
    pub units: Vec<UnitView>,
    pub levels: Vec<Level>,
    pub tags: Vec<ProductTag>,
    /// How many quantity-break rows each SKU form offers beyond its own.
    pub spare_breaks: usize,
    /// A refused form: `product`, `sku` (its `id`), `new_sku` or `image` (`id` 0 but for
    /// `sku`).
    pub error: Option<RowError>,
    /// The refused form's fields as typed, to fill it again.
    pub typed: BTreeMap<String, String>,
}

/// Quantity-break rows a SKU form offers beyond those it has.
pub const SPARE_BREAKS: usize = 2;

pub(super) fn sample_categories() -> Vec<Category> {
    let category = |id: i64, parent_id: Option<i64>, depth: i64, name: &str| Category {
        id,
        parent_id,
        name: name.to_owned(),
        depth,
        sort: id,
    };
    vec![
        category(1, None, 1, "劳保用品 <b>"),
        category(2, Some(1), 2, "头部防护"),
        category(3, Some(2), 3, "安全帽"),
        category(4, None, 1, "五金工具"),
    ]
}

fn sample_brands() -> Vec<Brand> {
    vec![Brand {
        id: 1,
        name: "代尔塔 <i>".to_owned(),
        logo_url: None,
        description: String::new(),
    }]
}

fn sample_sku(id: i64, product_id: i64, barcode: Option<&str>) -> Sku {
    Sku {
        id: SkuId(id),
        product_id: ProductId(product_id),
        model: "V型 <i>".to_owned(),
        spec: "红色".to_owned(),
        price_fen: 2800 + id,
        cost_fen: Some(1960),
        stock: 600,
        stock_seq: 0,
        allow_backorder: id % 2 == 0,
        low_stock_threshold: Some(50),
        weight_g: Some(420),
        barcode: barcode.map(str::to_owned),
        attributes: BTreeMap::from([("颜色".to_owned(), "红色".to_owned())]),
        level_prices: vec![LevelPrice {
            level_id: 2,
            price_fen: 2600,
        }],
        breaks: vec![PriceBreak {
            min_qty: 100,
            price_fen: 2500,
        }],
    }
}

pub(super) fn sample_product(id: i64, skus: usize, on_shelf: bool) -> Product {
    Product {
        id: ProductId(id),
        item_no: format!("AQM-{id:03} <b>"),
        name: "ABS安全帽 <script>".to_owned(),
        description: "国标GB2811 <i>".to_owned(),
        brand_id: Some(1),
        category_id: Some(3),
        supplier_id: None,
        unit: Unit {
            id: 1,
            item_unit: "顶".to_owned(),
            inner_qty: 10,
            inner_unit: "扎".to_owned(),
            outer_qty: 50,
            outer_unit: "箱".to_owned(),
        },
        on_shelf,
        images: vec!["/api/v1/images/hat.jpg".to_owned()],
        tag_ids: vec![1],
        skus: (0..skus)
            .map(|i| {
                let sku_id = id * 10 + i64::try_from(i).unwrap_or(0);
                sample_sku(sku_id, id, (i == 0).then_some("6901234500011"))
            })
            .collect(),
        revision: 1,
    }
}

impl PageView for OfficeGoodsView {
    const TEMPLATE: &'static str = "goods.html";
    fn samples() -> Vec<(&'static str, OfficeGoodsView)> {
        let categories = sample_categories();
        let brands = sample_brands();
        let full = OfficeGoodsView {
            menu: sample_menu(),
            q: "安全帽 <b>".to_owned(),
            category_id: Some(3),
            shelf: "on".to_owned(),
            rows: vec![
                GoodsRow::of(sample_product(1, 2, true), &categories, &brands),
                GoodsRow::of(sample_product(2, 1, false), &categories, &brands),
            ],
            total: 120,
            next_href: Some("/admin/goods?offset=50".to_owned()),
            previous_href: None,
            categories: CategoryOption::tree(&categories),
            back: "/admin/goods?q=%E5%AE%89".to_owned(),
            transfer_error: None,
            error: Some(RowError {
                id: 2,
                error: FormError {
                    form: "shelf",
                    code: "changed_meanwhile".to_owned(),
                    field: None,
                },
            }),
        };
        vec![
            ("a page of goods", full.clone()),
            (
                "an import refused before it started, nothing found",
                OfficeGoodsView {
                    q: String::new(),
                    category_id: None,
                    shelf: String::new(),
                    rows: Vec::new(),
                    total: 0,
                    next_href: None,
                    transfer_error: Some(FormError {
                        form: "import",
                        code: "jobs_busy".to_owned(),
                        field: None,
                    }),
                    error: None,
                    ..full
                },
            ),
        ]
    }
}

impl PageView for OfficeProductView {
    const TEMPLATE: &'static str = "product.html";
    fn samples() -> Vec<(&'static str, OfficeProductView)> {
        let unit = sample_product(1, 1, true).unit;
        let full = OfficeProductView {
            menu: sample_menu(),
            product: Some(sample_product(1, 2, true)),
            categories: CategoryOption::tree(&sample_categories()),
            brands: sample_brands(),
            units: vec![UnitView {
                label: unit.label(),
                unit,
            }],
            levels: vec![
                Level {
                    id: 1,
                    name: "普通会员 <i>".to_owned(),
                    rank: 1,
                    is_default: true,
                },
                Level {
                    id: 2,
                    name: "金牌会员".to_owned(),
                    rank: 3,
                    is_default: false,
                },
            ],
            tags: vec![ProductTag {
                id: 1,
                name: "工地专用 <b>".to_owned(),
                sort: 0,
            }],
            spare_breaks: SPARE_BREAKS,
            error: Some(RowError {
                id: 10,
                error: FormError {
                    form: "sku",
                    code: "invalid_money".to_owned(),
                    field: Some("price".to_owned()),
                },
            }),
            typed: BTreeMap::from([
                ("price".to_owned(), "12.3.4 <b>".to_owned()),
                ("level_2".to_owned(), "11".to_owned()),
            ]),
        };
        vec![
            ("a product with a refused SKU", full.clone()),
            (
                "a new product, refused",
                OfficeProductView {
                    product: None,
                    error: Some(RowError {
                        id: 0,
                        error: FormError {
                            form: "product",
                            code: "item_no_taken".to_owned(),
                            field: Some("item_no".to_owned()),
                        },
                    }),
                    typed: BTreeMap::from([("item_no".to_owned(), "AQM-001 <b>".to_owned())]),
                    ..full.clone()
                },
            ),
            (
                "a new product, nothing to choose from",
                OfficeProductView {
                    product: None,
                    categories: Vec::new(),
                    brands: Vec::new(),
                    tags: Vec::new(),
                    error: None,
                    typed: BTreeMap::new(),
                    ..full
                },
            ),
        ]
    }
}

/// `catalogue.html` (商品资料): what goods are described with — the category tree, brands,
/// units and packing forms, product tags, the spec library, member levels — each to add,
/// change and (where nothing uses it) remove.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeLibraryView {
    pub menu: Vec<MenuEntry>,
    pub categories: Vec<CategoryOption>,
    pub brands: Vec<Brand>,
    pub units: Vec<UnitView>,
    pub unit_forms: Vec<crate::catalog::library::UnitFormView>,
    pub tags: Vec<ProductTag>,
    pub specs: Vec<crate::catalog::library::SpecAttribute>,
    pub levels: Vec<Level>,
    /// A refused form: its kind (`category`, `brand`, `unit`, `unit_form`, `tag`, `spec`,
    /// `level`) and the record's id (0: the form adding one).
    pub error: Option<RowError>,
    pub typed: BTreeMap<String, String>,
}

impl PageView for OfficeLibraryView {
    const TEMPLATE: &'static str = "catalogue.html";
    fn samples() -> Vec<(&'static str, OfficeLibraryView)> {
        let unit = sample_product(1, 1, true).unit;
        let full = OfficeLibraryView {
            menu: sample_menu(),
            categories: CategoryOption::tree(&sample_categories()),
            brands: sample_brands(),
            units: vec![UnitView {
                label: unit.label(),
                unit,
            }],
            unit_forms: vec![crate::catalog::library::UnitFormView {
                form: crate::catalog::library::UnitForm {
                    id: 1,
                    item_unit: "把 <i>".to_owned(),
                    pack_unit: "盒".to_owned(),
                },
                label: "X把/盒 <b>".to_owned(),
            }],
            tags: vec![ProductTag {
                id: 1,
                name: "工地专用 <b>".to_owned(),
                sort: 0,
            }],
            specs: vec![crate::catalog::library::SpecAttribute {
                id: 1,
                name: "颜色 <i>".to_owned(),
                choices: vec!["红色".to_owned(), "黄色 <b>".to_owned()],
                sort: 0,
            }],
            levels: vec![Level {
                id: 1,
                name: "普通会员 <i>".to_owned(),
                rank: 1,
                is_default: true,
            }],
            error: Some(RowError {
                id: 3,
                error: FormError {
                    form: "category",
                    code: "in_use".to_owned(),
                    field: None,
                },
            }),
            typed: BTreeMap::from([("name".to_owned(), "安全帽 <b>".to_owned())]),
        };
        vec![
            ("everything, a refused delete", full.clone()),
            (
                "an empty library, a refused new brand",
                OfficeLibraryView {
                    categories: Vec::new(),
                    brands: Vec::new(),
                    unit_forms: Vec::new(),
                    tags: Vec::new(),
                    specs: Vec::new(),
                    error: Some(RowError {
                        id: 0,
                        error: FormError {
                            form: "brand",
                            code: "brand_taken".to_owned(),
                            field: Some("name".to_owned()),
                        },
                    }),
                    ..full
                },
            ),
        ]
    }
}
