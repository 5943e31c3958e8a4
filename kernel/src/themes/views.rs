//! The contract between pages and templates: what each page template is given, as types.
//! Pages (`crate::pages`) fill these from the same domain functions the JSON API calls; the
//! host renders every page template against the samples here before a theme serves, so a
//! template that names a field these types do not have is refused at check time, not at a
//! customer's request. A field added here is a field every theme may use; a field renamed
//! here fails the themes that used the old name, loudly, at load.
//!
//! Words people read are not here: a view carries data and stable codes (`notice`,
//! `error.code`, `roles`), and each theme says them in its own words.

use serde::Serialize;

use crate::catalog::Category;
use crate::catalog::handlers::{ShopProduct, ShopSku};
use crate::ids::{ProductId, SkuId};
use crate::members::addresses::Address;
use crate::orders::cart::{CartLine, CartView};

/// What every page is given besides its own view (merged at the top level of the context,
/// with `theme` added by the host).
#[derive(Debug, Clone, Serialize)]
pub struct Frame {
    pub shop: ShopFrame,
    /// The signed-in person, `none` for a visitor.
    pub user: Option<UserFrame>,
    /// The token every form that posts must carry as the hidden field `csrf_token` (`none`
    /// for a visitor, whose forms change nothing of his).
    pub csrf_token: Option<String>,
    /// A stable code telling what just happened (`signed_in`, `signed_out`, `added_to_cart`,
    /// `cart_updated`, `cart_removed`), `none` mostly.
    pub notice: Option<&'static str>,
    /// The request's path, to mark the current tab.
    pub path: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShopFrame {
    pub name: String,
    pub logo_url: Option<String>,
    pub service_phone: Option<String>,
    /// `internal` or `open` (B2).
    pub mode: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserFrame {
    pub name: String,
    /// Role codes (`member`, `admin`, `driver` …).
    pub roles: Vec<&'static str>,
    pub is_staff: bool,
}

/// A product as a list shows it. `price_fen` is `none` whenever the viewer may not see
/// prices (B2): it is taken from the SKUs' `price`, which the catalogue leaves out then.
#[derive(Debug, Clone, Serialize)]
pub struct ProductCard {
    pub id: i64,
    pub item_no: String,
    pub name: String,
    pub image: Option<String>,
    /// 「10把/盒 - 100把/箱」
    pub unit_label: String,
    pub item_unit: String,
    /// The minimum order quantity (the inner pack).
    pub moq: i64,
    /// The lowest price of its SKUs this viewer pays, in fen (`|price` shows it as ¥12.30).
    pub price_fen: Option<i64>,
    /// Its SKUs do not all cost the same (the template may say 起).
    pub price_varies: bool,
    pub in_stock: bool,
}

impl From<&ShopProduct> for ProductCard {
    fn from(product: &ShopProduct) -> ProductCard {
        let prices: Vec<i64> = product
            .skus
            .iter()
            .filter_map(|sku| sku.price.as_ref().map(|p| p.price_fen))
            .collect();
        let lowest = prices.iter().copied().min();
        ProductCard {
            id: product.id,
            item_no: product.item_no.clone(),
            name: product.name.clone(),
            image: product.images.first().cloned(),
            unit_label: product.unit.label.clone(),
            item_unit: product.unit.unit.item_unit.clone(),
            moq: product.moq,
            price_fen: lowest,
            price_varies: prices.iter().any(|p| Some(*p) != lowest),
            in_stock: product
                .skus
                .iter()
                .any(|sku| sku.stock > 0 || sku.allow_backorder),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CategoryCard {
    pub id: i64,
    pub name: String,
}

impl From<&Category> for CategoryCard {
    fn from(category: &Category) -> CategoryCard {
        CategoryCard {
            id: category.id,
            name: category.name.clone(),
        }
    }
}

/// A top-level category with the ones under it.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryGroup {
    pub id: i64,
    pub name: String,
    pub children: Vec<CategoryCard>,
}

/// A page template and what it is given. `samples` are what the host renders it against
/// before the theme serves: one per shape the page can take (empty, full, prices hidden).
pub trait PageView: Serialize + Sized {
    const TEMPLATE: &'static str;
    fn samples() -> Vec<(&'static str, Self)>;
}

/// `home.html`: the shop's front page.
#[derive(Debug, Clone, Serialize)]
pub struct HomeView {
    pub categories: Vec<CategoryCard>,
    pub products: Vec<ProductCard>,
    /// Whether this viewer sees prices (B2): `false` means every `price_fen` is `none`.
    pub prices_visible: bool,
}

/// `search.html`: the shelf matching `q` (or a category's goods).
#[derive(Debug, Clone, Serialize)]
pub struct SearchView {
    pub q: String,
    /// The category searched in, when the search came from one.
    pub category: Option<CategoryCard>,
    pub products: Vec<ProductCard>,
    /// Matches in all (the page shows the first ones).
    pub total: i64,
    pub prices_visible: bool,
}

/// `categories.html`: every category, top level with the level below.
#[derive(Debug, Clone, Serialize)]
pub struct CategoriesView {
    pub groups: Vec<CategoryGroup>,
}

/// `sign_in.html`: the sign-in form, again with the refusal's code after a failed attempt.
#[derive(Debug, Clone, Serialize)]
pub struct SignInView {
    /// Where to go after signing in (a path of this site).
    pub next: String,
    /// The phone as typed, to fill the field again.
    pub phone: String,
    /// The refusal's stable code (`invalid_credentials`, `too_many_attempts`,
    /// `account_disabled`, `invalid_phone`, `invalid_input`, `csrf_failed`), `none` at first.
    pub error: Option<String>,
}

/// `me.html`: my account (我的).
#[derive(Debug, Clone, Serialize)]
pub struct MeView {
    pub name: String,
    /// The phone with its middle hidden (138****0000).
    pub phone: String,
    pub company_name: Option<String>,
    /// `pending`, `approved` … for a member, `none` for staff.
    pub member_state: Option<String>,
}

/// A refusal of a form's quantity, shown next to the field it names.
#[derive(Debug, Clone, Serialize)]
pub struct QtyError {
    /// The SKU whose field was refused.
    pub sku_id: i64,
    /// The API's stable code (`moq_step`, `invalid_quantity`, `delisted`, `unknown_sku`,
    /// `too_many_lines`).
    pub code: String,
    /// The quantity as typed, to fill the field again.
    pub qty: String,
}

/// A quantity break: from `min_qty` items on, one costs `price_fen`.
#[derive(Debug, Clone, Serialize)]
pub struct BreakView {
    pub min_qty: i64,
    pub price_fen: i64,
}

/// A SKU as the product page shows it. `price_fen` is `none` (and `breaks` empty) whenever
/// the viewer may not see prices (B2).
#[derive(Debug, Clone, Serialize)]
pub struct SkuCard {
    pub id: i64,
    pub model: String,
    pub spec: String,
    /// Attributes from the spec library as (name, value): (颜色, 红色).
    pub attributes: Vec<(String, String)>,
    pub stock: i64,
    pub in_stock: bool,
    pub price_fen: Option<i64>,
    pub breaks: Vec<BreakView>,
}

impl From<&ShopSku> for SkuCard {
    fn from(sku: &ShopSku) -> SkuCard {
        SkuCard {
            id: sku.id,
            model: sku.model.clone(),
            spec: sku.spec.clone(),
            attributes: sku
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            stock: sku.stock,
            in_stock: sku.stock > 0 || sku.allow_backorder,
            price_fen: sku.price.as_ref().map(|p| p.price_fen),
            breaks: sku
                .price
                .iter()
                .flat_map(|p| &p.breaks)
                .map(|b| BreakView {
                    min_qty: b.min_qty,
                    price_fen: b.price_fen,
                })
                .collect(),
        }
    }
}

/// `product.html`: one product on the shelf with every SKU and, for a signed-in caller, a
/// quantity field and 订货 per SKU.
#[derive(Debug, Clone, Serialize)]
pub struct ProductView {
    pub id: i64,
    pub item_no: String,
    pub name: String,
    pub description: String,
    /// Picture URLs in display order (empty: the theme's placeholder).
    pub images: Vec<String>,
    /// 「10把/盒 - 100把/箱」
    pub unit_label: String,
    /// 把
    pub item_unit: String,
    /// Items per inner pack (盒): the minimum order and the step.
    pub inner_qty: i64,
    pub inner_unit: String,
    /// Items per case (箱).
    pub outer_qty: i64,
    pub outer_unit: String,
    /// The minimum order quantity, and the step quantities go in.
    pub moq: i64,
    pub prices_visible: bool,
    pub skus: Vec<SkuCard>,
    /// The last 订货 refused, shown next to its SKU's field; `none` mostly.
    pub error: Option<QtyError>,
}

impl From<&ShopProduct> for ProductView {
    fn from(product: &ShopProduct) -> ProductView {
        let unit = &product.unit.unit;
        ProductView {
            id: product.id,
            item_no: product.item_no.clone(),
            name: product.name.clone(),
            description: product.description.clone(),
            images: product.images.clone(),
            unit_label: product.unit.label.clone(),
            item_unit: unit.item_unit.clone(),
            inner_qty: unit.inner_qty,
            inner_unit: unit.inner_unit.clone(),
            outer_qty: unit.outer_qty,
            outer_unit: unit.outer_unit.clone(),
            moq: product.moq.max(1),
            prices_visible: product.prices_visible,
            skus: product.skus.iter().map(SkuCard::from).collect(),
            error: None,
        }
    }
}

/// `cart.html`: my cart (购物车).
#[derive(Debug, Clone, Serialize)]
pub struct CartPageView {
    /// The cart's lines as the cart API gives them (`orders::cart::CartLine`).
    pub lines: Vec<CartLine>,
    /// The lines still on sale, summed (shipping and promotions come at checkout).
    pub goods_fen: i64,
    /// The last change refused, shown next to its line's field; `none` mostly.
    pub error: Option<QtyError>,
}

impl From<&CartView> for CartPageView {
    fn from(cart: &CartView) -> CartPageView {
        CartPageView {
            lines: cart.lines.clone(),
            goods_fen: cart.goods_fen,
            error: None,
        }
    }
}

/// What the quote says the order comes to.
#[derive(Debug, Clone, Serialize)]
pub struct QuoteTotals {
    pub goods_fen: i64,
    /// Promotions and the like (negative for a discount).
    pub adjustments_fen: i64,
    pub shipping_fen: i64,
    pub total_fen: i64,
}

/// `checkout.html`: the order about to be placed from the cart.
#[derive(Debug, Clone, Serialize)]
pub struct CheckoutView {
    pub lines: Vec<CartLine>,
    /// The member's address book, as the address API gives it.
    pub addresses: Vec<Address>,
    /// The delivery methods the shop offers (`ship`, `pickup`, `ship_to_terminal`), in order.
    pub delivery_methods: Vec<&'static str>,
    /// The one chosen (the page is quoted for it; another is a link to `?delivery=`).
    pub delivery: &'static str,
    /// Whether the chosen method needs an address.
    pub needs_address: bool,
    /// The payment methods on offer (`cash_on_delivery`, `bank_transfer` …), in order.
    pub payment_methods: Vec<&'static str>,
    /// The quote for the chosen delivery and the default address; `none` when it could not
    /// be priced (`error` says why).
    pub quote: Option<QuoteTotals>,
    /// Sent back with the order: the same key twice makes one order.
    pub idempotency_key: String,
    /// Why the order (or the quote) was refused: the API's code, `none` mostly.
    pub error: Option<String>,
    /// The remark as typed, after a refusal.
    pub remark: String,
}

/// `order_placed.html`: the confirmation after checkout.
#[derive(Debug, Clone, Serialize)]
pub struct OrderPlacedView {
    pub id: i64,
    /// 20261130000123
    pub number: String,
    /// `pending_confirmation`, `pending_payment` …
    pub status: String,
    pub total_fen: i64,
    pub payment_method: String,
    pub delivery_method: String,
}

/// `error.html`: a page that could not be shown.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorView {
    /// 404, 403, 500 …
    pub status: u16,
    /// The stable code (`not_found`, `forbidden`, `single_page`, `internal` …).
    pub code: String,
}

fn sample_products(prices: bool, n: usize) -> Vec<ProductCard> {
    (0..n)
        .map(|i| {
            let id = i64::try_from(i).unwrap_or(0) + 1;
            ProductCard {
                id,
                item_no: format!("A{id:04}"),
                name: format!("样品商品 {id} <b>&amp;</b>"),
                image: (i % 2 == 0).then(|| format!("/api/v1/images/sample-{id}.jpg")),
                unit_label: "10把/盒 - 100把/箱".to_owned(),
                item_unit: "把".to_owned(),
                moq: 10,
                price_fen: prices.then_some(1230 + id),
                price_varies: i % 3 == 0,
                in_stock: i % 4 != 3,
            }
        })
        .collect()
}

fn sample_categories(n: usize) -> Vec<CategoryCard> {
    (0..n)
        .map(|i| CategoryCard {
            id: i64::try_from(i).unwrap_or(0) + 1,
            name: format!("分类{i}"),
        })
        .collect()
}

/// The most a page lists: samples render this many, so a template that fits the samples'
/// fuel fits any real page's.
pub const MAX_LISTED: usize = 40;

impl PageView for HomeView {
    const TEMPLATE: &'static str = "home.html";
    fn samples() -> Vec<(&'static str, HomeView)> {
        vec![
            (
                "prices shown",
                HomeView {
                    categories: sample_categories(12),
                    products: sample_products(true, MAX_LISTED),
                    prices_visible: true,
                },
            ),
            (
                "prices hidden",
                HomeView {
                    categories: sample_categories(3),
                    products: sample_products(false, 5),
                    prices_visible: false,
                },
            ),
            (
                "an empty shop",
                HomeView {
                    categories: Vec::new(),
                    products: Vec::new(),
                    prices_visible: true,
                },
            ),
        ]
    }
}

impl PageView for SearchView {
    const TEMPLATE: &'static str = "search.html";
    fn samples() -> Vec<(&'static str, SearchView)> {
        vec![
            (
                "matches with prices",
                SearchView {
                    q: "手套 \"<script>".to_owned(),
                    category: None,
                    products: sample_products(true, MAX_LISTED),
                    total: 120,
                    prices_visible: true,
                },
            ),
            (
                "a category, prices hidden",
                SearchView {
                    q: String::new(),
                    category: sample_categories(1).into_iter().next(),
                    products: sample_products(false, 3),
                    total: 3,
                    prices_visible: false,
                },
            ),
            (
                "no match",
                SearchView {
                    q: "无此商品".to_owned(),
                    category: None,
                    products: Vec::new(),
                    total: 0,
                    prices_visible: false,
                },
            ),
        ]
    }
}

impl PageView for CategoriesView {
    const TEMPLATE: &'static str = "categories.html";
    fn samples() -> Vec<(&'static str, CategoriesView)> {
        vec![
            (
                "three levels",
                CategoriesView {
                    groups: sample_categories(8)
                        .into_iter()
                        .map(|c| CategoryGroup {
                            id: c.id,
                            name: c.name,
                            children: sample_categories(6),
                        })
                        .collect(),
                },
            ),
            ("no categories", CategoriesView { groups: Vec::new() }),
        ]
    }
}

impl PageView for SignInView {
    const TEMPLATE: &'static str = "sign_in.html";
    fn samples() -> Vec<(&'static str, SignInView)> {
        vec![
            (
                "first visit",
                SignInView {
                    next: "/".to_owned(),
                    phone: String::new(),
                    error: None,
                },
            ),
            (
                "a wrong password",
                SignInView {
                    next: "/me".to_owned(),
                    phone: "13800000000".to_owned(),
                    error: Some("invalid_credentials".to_owned()),
                },
            ),
        ]
    }
}

impl PageView for MeView {
    const TEMPLATE: &'static str = "me.html";
    fn samples() -> Vec<(&'static str, MeView)> {
        vec![
            (
                "a member",
                MeView {
                    name: "张三".to_owned(),
                    phone: "138****0000".to_owned(),
                    company_name: Some("海口五金店".to_owned()),
                    member_state: Some("approved".to_owned()),
                },
            ),
            (
                "staff",
                MeView {
                    name: "李四".to_owned(),
                    phone: "139****0000".to_owned(),
                    company_name: None,
                    member_state: None,
                },
            ),
        ]
    }
}

fn sample_skus(prices: bool, n: usize) -> Vec<SkuCard> {
    (0..n)
        .map(|i| {
            let id = i64::try_from(i).unwrap_or(0) + 1;
            SkuCard {
                id,
                model: format!("M-{id}"),
                spec: format!("{}号 <i>", 7 + id),
                attributes: vec![("颜色".to_owned(), "红色".to_owned())],
                stock: if i % 3 == 2 { 0 } else { 100 * id },
                in_stock: i % 3 != 2,
                price_fen: prices.then_some(1230 + id),
                breaks: if prices && i == 0 {
                    vec![
                        BreakView {
                            min_qty: 100,
                            price_fen: 1100,
                        },
                        BreakView {
                            min_qty: 500,
                            price_fen: 990,
                        },
                    ]
                } else {
                    Vec::new()
                },
            }
        })
        .collect()
}

fn sample_product(prices: bool, skus: usize, images: usize) -> ProductView {
    ProductView {
        id: 1,
        item_no: "A0001".to_owned(),
        name: "样品商品 <b>&amp;</b>".to_owned(),
        description: "耐磨 <script>防滑</script>".to_owned(),
        images: (0..images)
            .map(|i| format!("/api/v1/images/sample-{i}.jpg"))
            .collect(),
        unit_label: "10把/盒 - 100把/箱".to_owned(),
        item_unit: "把".to_owned(),
        inner_qty: 10,
        inner_unit: "盒".to_owned(),
        outer_qty: 100,
        outer_unit: "箱".to_owned(),
        moq: 10,
        prices_visible: prices,
        skus: sample_skus(prices, skus),
        error: None,
    }
}

impl PageView for ProductView {
    const TEMPLATE: &'static str = "product.html";
    fn samples() -> Vec<(&'static str, ProductView)> {
        vec![
            ("prices shown", sample_product(true, MAX_LISTED, 5)),
            ("prices hidden, no picture", sample_product(false, 3, 0)),
            (
                "a quantity refused",
                ProductView {
                    error: Some(QtyError {
                        sku_id: 2,
                        code: "moq_step".to_owned(),
                        qty: "7\"<b>".to_owned(),
                    }),
                    ..sample_product(true, 3, 1)
                },
            ),
        ]
    }
}

fn sample_lines(n: usize) -> Vec<CartLine> {
    (0..n)
        .map(|i| {
            let id = i64::try_from(i).unwrap_or(0) + 1;
            CartLine {
                sku_id: SkuId(id),
                product_id: ProductId(id),
                item_no: format!("A{id:04}"),
                name: format!("样品商品 {id} <b>&amp;</b>"),
                model: format!("M-{id}"),
                spec: format!("{}号", 7 + id),
                unit_label: "10把/盒 - 100把/箱".to_owned(),
                step: 10,
                qty: 10 * id,
                unit_price_fen: 1230,
                subtotal_fen: 12300 * id,
                seen_price_fen: if i % 4 == 1 { 1200 } else { 1230 },
                price_changed: i % 4 == 1,
                stock: if i % 4 == 2 { 5 } else { 1000 },
                stock_changed: i % 4 == 2,
                short: i % 4 == 2,
                delisted: i % 4 == 3,
            }
        })
        .collect()
}

impl PageView for CartPageView {
    const TEMPLATE: &'static str = "cart.html";
    fn samples() -> Vec<(&'static str, CartPageView)> {
        vec![
            (
                "lines with every notice",
                CartPageView {
                    lines: sample_lines(MAX_LISTED),
                    goods_fen: 1_234_500,
                    error: None,
                },
            ),
            (
                "a quantity refused",
                CartPageView {
                    lines: sample_lines(2),
                    goods_fen: 36900,
                    error: Some(QtyError {
                        sku_id: 1,
                        code: "moq_step".to_owned(),
                        qty: "7".to_owned(),
                    }),
                },
            ),
            (
                "an empty cart",
                CartPageView {
                    lines: Vec::new(),
                    goods_fen: 0,
                    error: None,
                },
            ),
        ]
    }
}

fn sample_addresses(n: usize) -> Vec<Address> {
    (0..n)
        .map(|i| Address {
            id: i64::try_from(i).unwrap_or(0) + 1,
            province: "海南省".to_owned(),
            city: "海口市".to_owned(),
            district: "龙华区".to_owned(),
            detail: format!("滨海大道{i}号 <b>"),
            contact_name: "张三".to_owned(),
            phone: "13800000000".to_owned(),
            is_default: i == 0,
        })
        .collect()
}

impl PageView for CheckoutView {
    const TEMPLATE: &'static str = "checkout.html";
    fn samples() -> Vec<(&'static str, CheckoutView)> {
        let full = CheckoutView {
            lines: sample_lines(MAX_LISTED),
            addresses: sample_addresses(5),
            delivery_methods: vec!["ship", "pickup", "ship_to_terminal"],
            delivery: "ship",
            needs_address: true,
            payment_methods: vec![
                "cash_on_delivery",
                "bank_transfer",
                "pay_before_shipping",
                "wechat_transfer",
                "alipay_transfer",
                "carrier_collect",
                "monthly_settlement",
            ],
            quote: Some(QuoteTotals {
                goods_fen: 123_400,
                adjustments_fen: -1000,
                shipping_fen: 1500,
                total_fen: 123_900,
            }),
            idempotency_key: "0".repeat(32),
            error: None,
            remark: String::new(),
        };
        vec![
            ("ship with addresses", full.clone()),
            (
                "pickup, refused",
                CheckoutView {
                    lines: sample_lines(1),
                    addresses: Vec::new(),
                    delivery: "pickup",
                    needs_address: false,
                    payment_methods: vec!["cash_on_delivery"],
                    quote: None,
                    error: Some("out_of_stock".to_owned()),
                    remark: "请尽快 <script>".to_owned(),
                    ..full.clone()
                },
            ),
            (
                "no address yet",
                CheckoutView {
                    addresses: Vec::new(),
                    quote: None,
                    error: Some("address_required".to_owned()),
                    ..full
                },
            ),
        ]
    }
}

impl PageView for OrderPlacedView {
    const TEMPLATE: &'static str = "order_placed.html";
    fn samples() -> Vec<(&'static str, OrderPlacedView)> {
        vec![
            (
                "cash on delivery",
                OrderPlacedView {
                    id: 1,
                    number: "20261130000123".to_owned(),
                    status: "pending_confirmation".to_owned(),
                    total_fen: 123_900,
                    payment_method: "cash_on_delivery".to_owned(),
                    delivery_method: "ship".to_owned(),
                },
            ),
            (
                "pay first",
                OrderPlacedView {
                    id: 2,
                    number: "20261130000124".to_owned(),
                    status: "pending_payment".to_owned(),
                    total_fen: 500,
                    payment_method: "bank_transfer".to_owned(),
                    delivery_method: "pickup".to_owned(),
                },
            ),
        ]
    }
}

impl PageView for ErrorView {
    const TEMPLATE: &'static str = "error.html";
    fn samples() -> Vec<(&'static str, ErrorView)> {
        [
            (404, "not_found"),
            (403, "forbidden"),
            (403, "single_page"),
            (500, "internal"),
        ]
        .into_iter()
        .map(|(status, code)| {
            (
                "an error",
                ErrorView {
                    status,
                    code: code.to_owned(),
                },
            )
        })
        .collect()
    }
}

/// The frames samples are rendered in: a visitor, and a signed-in member told something.
pub fn sample_frames() -> Vec<(&'static str, Frame)> {
    let shop = ShopFrame {
        name: "样品商城 <i>".to_owned(),
        logo_url: None,
        service_phone: Some("0898-12345678".to_owned()),
        mode: "internal",
    };
    vec![
        (
            "a visitor",
            Frame {
                shop: shop.clone(),
                user: None,
                csrf_token: None,
                notice: None,
                path: "/".to_owned(),
            },
        ),
        (
            "a signed-in member",
            Frame {
                shop: ShopFrame {
                    logo_url: Some("/api/v1/images/logo.png".to_owned()),
                    mode: "open",
                    ..shop
                },
                user: Some(UserFrame {
                    name: "张三".to_owned(),
                    roles: vec!["member"],
                    is_staff: false,
                }),
                csrf_token: Some("0".repeat(64)),
                notice: Some("signed_in"),
                path: "/search".to_owned(),
            },
        ),
    ]
}

/// Every page template a theme must have.
pub const PAGE_TEMPLATES: [&str; 10] = [
    HomeView::TEMPLATE,
    ProductView::TEMPLATE,
    CartPageView::TEMPLATE,
    CheckoutView::TEMPLATE,
    OrderPlacedView::TEMPLATE,
    SearchView::TEMPLATE,
    CategoriesView::TEMPLATE,
    SignInView::TEMPLATE,
    MeView::TEMPLATE,
    ErrorView::TEMPLATE,
];

/// Every page sample as (template, what it shows, the view as a value).
pub fn page_samples() -> Vec<(&'static str, &'static str, minijinja::Value)> {
    fn of<V: PageView>() -> Vec<(&'static str, &'static str, minijinja::Value)> {
        V::samples()
            .into_iter()
            .map(|(label, view)| {
                (
                    V::TEMPLATE,
                    label,
                    minijinja::Value::from(minijinja::value::Serde(&view)),
                )
            })
            .collect()
    }
    let mut all = of::<HomeView>();
    all.extend(of::<SearchView>());
    all.extend(of::<ProductView>());
    all.extend(of::<CartPageView>());
    all.extend(of::<CheckoutView>());
    all.extend(of::<OrderPlacedView>());
    all.extend(of::<CategoriesView>());
    all.extend(of::<SignInView>());
    all.extend(of::<MeView>());
    all.extend(of::<ErrorView>());
    all
}
