//! The contract between pages and templates: what each page template is given, as types.
//! Pages (`crate::pages`) fill these from the same domain functions the JSON API calls; the
//! host renders every page template against the samples here before a theme serves, so a
//! template that names a field these types do not have is refused at check time, not at a
//! customer's request. A field added here is a field every theme may use; a field renamed
//! here fails the themes that used the old name, loudly, at load.
//!
//! Words people read are not here: a view carries data and stable codes (`notice`,
//! `error.code`, `roles`), and each theme says them in its own words.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::handlers::{ShopProduct, ShopSku};
use crate::catalog::transfer::RowError;
use crate::catalog::{Brand, Category};
use crate::ids::{ProductId, SkuId};
use crate::members::addresses::Address;
use crate::members::profile::MyProfile;
use crate::notify::MessageView;
use crate::orders::cart::{CartLine, CartView};
use crate::orders::queries::StatusCount;
use crate::orders::quote::LineRequest;
use crate::orders::record::OrderView;
use crate::orders::{Audience, OrderStatus};
use crate::regions::Region;
use crate::reviews::{ProductReviews, Review};
use crate::settings::BankAccount;

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
    /// A stable code telling what just happened (one of `pages::NOTICES`: `signed_in`,
    /// `added_to_cart`, `order_received` …), `none` mostly.
    pub notice: Option<&'static str>,
    /// The request's path, to mark the current tab.
    pub path: String,
    /// The plugins' screens the caller's roles open, where this page is: on the storefront
    /// those placed on 我的 (`mine`) and, for staff, in the back office (`office`, drawn on
    /// the phone at `/p/…`); in the back office those placed there (its menu's 营销插件).
    pub screens: Vec<ScreenLink>,
}

/// An entry to a plugin's screen (`pifa_sdk::ScreenEntry`).
#[derive(Debug, Clone, Serialize)]
pub struct ScreenLink {
    /// The plugin's name (`points`).
    pub plugin: String,
    /// The plugin's words for it (积分商城), cleaned.
    pub label: String,
    /// `/p/points/mall`, `/admin/p/coupons/office`.
    pub href: String,
    /// `mine` or `office`.
    pub place: &'static str,
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
    /// Inbox messages not opened yet (the badge on 我的).
    pub unread: i64,
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

/// A category with the ones under it (three levels: 大类 › 中类 › 小类).
#[derive(Debug, Clone, Serialize)]
pub struct CategoryGroup {
    pub id: i64,
    pub name: String,
    pub children: Vec<CategoryGroup>,
}

/// A page template and what it is given. `samples` are what the host renders it against
/// before the theme serves: one per shape the page can take (empty, full, prices hidden).
pub trait PageView: Serialize + Sized {
    const TEMPLATE: &'static str;
    fn samples() -> Vec<(&'static str, Self)>;
}

/// `home.html`: a composed page, the shop's front page or a landing page (`/pages/…`): its
/// sections in order, each already drawn by the theme's `sections/<kind>.html` (see
/// [`SectionView`]), and the colours the page sets over the theme's.
#[derive(Debug, Clone, Serialize)]
pub struct HomeView {
    /// The page's title; empty for the shop's name.
    pub title: String,
    /// Colour name → `#rrggbb` over `theme.colors` for this page (checked: names the theme
    /// has, values that are colours).
    pub colors: BTreeMap<String, String>,
    pub sections: Vec<DrawnSection>,
    /// `none` for the page members see; the page's name when staff look at a draft (the
    /// editor's preview), which the page says.
    pub preview: Option<String>,
}

/// One section of a composed page, drawn.
#[derive(Debug, Clone, Serialize)]
pub struct DrawnSection {
    pub kind: String,
    /// The HTML its template made (auto-escaped there): the page puts it in with `|safe`.
    pub html: String,
}

/// What `sections/<kind>.html` is given, as `section`. Section templates are drawn without
/// the page's frame (no `user`, `csrf_token`, `notice`): a drawn section is kept and served to
/// every viewer with the same price view, so it must not hold one person's things.
#[derive(Debug, Clone, Serialize)]
pub struct SectionView {
    pub kind: String,
    /// Its settings, checked against the theme's schema, defaults filled in, rich text
    /// cleaned (put it in with `|safe`), links in the shop, pictures the shop's.
    pub settings: serde_json::Value,
    /// Whether the viewer is signed in (the words for hidden prices differ).
    pub signed_in: bool,
    /// Whether this viewer sees prices (B2): `false` means every `price_fen` is `none`.
    pub prices_visible: bool,
    /// `goods`: the goods its source gives this viewer, at most its `count`.
    pub products: Vec<ProductCard>,
    /// `brands`: the brand wall.
    pub brands: Vec<Brand>,
    /// `nav` whose `source` is `categories`: the top-level categories.
    pub categories: Vec<CategoryCard>,
    /// `flash_sale`: the flash-sale plugin's running and coming sales for this viewer (empty
    /// when it is not installed: the template then draws nothing).
    pub flash_sales: Vec<FlashSale>,
}

/// A flash sale's countdown on the home page.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FlashSale {
    pub id: i64,
    pub name: String,
    /// `active` (counting down to its end) or `upcoming` (to its start).
    pub state: String,
    pub seconds_left: i64,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    /// Items still to sell in all.
    pub remaining: i64,
    /// Its goods: `sku_id`, `price_fen` (`none` for a viewer who may not see prices), and
    /// the product page to open (`product_id`, `none` when the SKU is gone).
    pub items: Vec<FlashSaleItem>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FlashSaleItem {
    pub sku_id: i64,
    pub price_fen: Option<i64>,
    #[serde(default)]
    pub product_id: Option<i64>,
}

/// `search.html`: the shelf matching `q` (or a category's goods).
#[derive(Debug, Clone, Serialize)]
pub struct SearchView {
    pub q: String,
    /// The category searched in, when the search came from one.
    pub category: Option<CategoryCard>,
    /// The brand filtered by, if any (from the brand centre or the brand chips).
    pub brand: Option<Brand>,
    /// Every brand, to filter by.
    pub brands: std::sync::Arc<Vec<Brand>>,
    /// The order shown (`relevance`, `new`, `price_asc`, `price_desc`) and the ones on offer
    /// (`relevance` only with words; the price orders only to those who see prices).
    pub sort: &'static str,
    pub sorts: Vec<&'static str>,
    /// `?scan=true`: the box is for a barcode typed or scanned (numeric keyboard, focused).
    pub scan: bool,
    pub products: Vec<ProductCard>,
    /// Matches in all (the page shows the first ones).
    pub total: i64,
    pub prices_visible: bool,
}

/// `brands.html`: the brand centre (品牌中心).
#[derive(Debug, Clone, Serialize)]
pub struct BrandsView {
    /// `id`, `name`, `logo_url`, `description`, as the catalogue gives them.
    pub brands: std::sync::Arc<Vec<Brand>>,
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
    /// `account_disabled`, `invalid_phone`, `invalid_input`, `csrf_failed`, `invalid_code`,
    /// `too_many_requests`), `none` at first.
    pub error: Option<String>,
    /// `password`, or `code` (a code by SMS instead of the password).
    pub mode: &'static str,
    /// Where the sign-in code went, masked (`139****0001`), once sent.
    pub code_sent_to: Option<String>,
}

/// `sign_up.html`: a new dealer's account (注册), with a code sent to his phone.
#[derive(Debug, Clone, Serialize)]
pub struct SignUpView {
    /// The fields as typed, to fill the form again (the password never comes back).
    pub phone: String,
    pub company_name: String,
    pub contact_name: String,
    /// A manager's or promoter's invite code (from his QR code), carried along.
    pub invite_code: String,
    /// Where the code went, masked, once sent.
    pub code_sent_to: Option<String>,
    /// `form` is `code` (sending the code) or `sign_up`.
    pub error: Option<FormError>,
}

/// `forgot.html`: a new password with a code sent to the phone (A6).
#[derive(Debug, Clone, Serialize)]
pub struct ForgotView {
    pub phone: String,
    pub code_sent_to: Option<String>,
    /// `form` is `code` or `reset`.
    pub error: Option<FormError>,
}

/// `profile.html`: my shop's profile (完善资料): what staff review before my prices show.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileView {
    /// As the profile API gives it: state, shop name, photos, the reason of a rejection, a
    /// change waiting for staff.
    pub profile: MyProfile,
    /// The regions to choose from.
    pub regions: Vec<Region>,
    /// The text fields as last typed (`contact_name`, `address` …), after a refusal.
    pub typed: BTreeMap<String, String>,
    /// `form` is `profile`.
    pub error: Option<FormError>,
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
    /// How many of my orders are in each status (every status, in E9's order); empty for
    /// someone with no orders of his own to list.
    pub order_counts: Vec<StatusCount>,
    /// 工作台: staff's desks, as their permissions open them (`pages::desks`).
    pub desks: Vec<DeskEntry>,
}

/// A desk on 我的: `key` names it (`confirm_orders`, `dispatch_orders`, `deliveries`,
/// `in_delivery`, `all_orders`), `count` is its badge where it has one.
#[derive(Debug, Clone, Serialize)]
pub struct DeskEntry {
    pub key: &'static str,
    pub href: &'static str,
    pub count: Option<i64>,
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
    /// Approved reviews (`count`, `average_x10`: 4.5 stars is 45, `reviews`: `rating`, `body`,
    /// `reviewer` masked, `photos`, `created_at`), the newest `MAX_LISTED`; `none` for a
    /// visitor (reviews are for those signed in).
    pub reviews: Option<ProductReviews>,
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
            reviews: None,
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

impl QuoteTotals {
    pub fn of(quote: &crate::orders::quote::Quote) -> QuoteTotals {
        QuoteTotals {
            goods_fen: quote.goods_fen,
            adjustments_fen: quote.adjustments_fen,
            shipping_fen: quote.shipping_fen,
            total_fen: quote.total_fen,
        }
    }
}

/// `checkout.html`: the order about to be placed from the cart.
#[derive(Debug, Clone, Serialize)]
pub struct CheckoutView {
    pub lines: Vec<CartLine>,
    /// The member's address book, as the address API gives it.
    pub addresses: Vec<Address>,
    /// The address the quote is for (the default unless another was chosen with
    /// `?address_id=`); another is a link that quotes for it.
    pub address_id: Option<i64>,
    /// 立即下单: the one line (`sku_id`, `qty`) ordered instead of the cart; the form and the
    /// delivery and address links carry it on.
    pub buy_now: Option<LineRequest>,
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
    /// The remark, PO number and requested date as typed, after a refusal.
    pub remark: String,
    pub po_number: String,
    pub requested_date: String,
    /// What the plugins say about their offers with this quote (「再买 ¥120.00 减 ¥50.00」,
    /// 「有2张优惠券可用」): `plugin`, `text`.
    pub offers: Vec<crate::orders::quote::OfferNote>,
    /// What the member may choose for the plugins (a coupon, points to spend), each a field
    /// of the order form named `name` (`opt.<plugin>.<field>`); the form's 更新 button
    /// (`requote`) quotes again with them, 提交订单 orders with them.
    pub choices: Vec<CheckoutChoice>,
    /// The choices the page was quoted with as query parameters (`&opt.coupons.coupon_id=12`),
    /// for the links that quote the page again (delivery, address) to carry them.
    pub options_query: String,
}

/// A plugin's choice on the checkout page, as the quote offers it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckoutChoice {
    pub plugin: String,
    /// `opt.<plugin>.<field>`: the form field it posts as.
    pub name: String,
    pub label: String,
    /// `select`, `number` or `checkbox` (posts `on` when ticked).
    pub kind: &'static str,
    /// As the quote was priced with (what the member chose, or the plugin's default).
    pub value: String,
    pub checked: bool,
    /// For `select`: `value`, `label`, `selected`.
    pub options: Vec<ChoiceOption>,
    pub help: String,
    pub placeholder: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChoiceOption {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl CheckoutChoice {
    /// The quote's choices the page draws (the kinds a checkout takes; the others left out).
    pub fn of(choices: &[crate::orders::quote::PluginChoice]) -> Vec<CheckoutChoice> {
        use pifa_sdk::FieldKind;
        choices
            .iter()
            .filter_map(|choice| {
                let field = &choice.field;
                let kind = match field.kind {
                    FieldKind::Select => "select",
                    FieldKind::Number => "number",
                    FieldKind::Checkbox => "checkbox",
                    _ => return None,
                };
                Some(CheckoutChoice {
                    plugin: choice.plugin.clone(),
                    name: format!("opt.{}.{}", choice.plugin, field.name),
                    label: field.label.clone(),
                    kind,
                    checked: kind == "checkbox" && !field.value.is_empty(),
                    options: field
                        .options
                        .iter()
                        .map(|o| ChoiceOption {
                            value: o.value.clone(),
                            label: o.label.clone(),
                            selected: o.value == field.value,
                        })
                        .collect(),
                    value: field.value.clone(),
                    help: field.help.clone(),
                    placeholder: field.placeholder.clone(),
                })
            })
            .collect()
    }
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

/// An address form as typed, to fill it again after a refusal.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AddressTyped {
    pub province: String,
    pub city: String,
    pub district: String,
    pub detail: String,
    pub contact_name: String,
    pub phone: String,
    /// The checkbox: present (`on`) when ticked.
    pub is_default: Option<String>,
}

/// `addresses.html`: my address book (收货地址).
#[derive(Debug, Clone, Serialize)]
pub struct AddressBookView {
    /// As the address API gives them, the default first.
    pub addresses: Vec<Address>,
    /// Where to go once an address is saved (`/checkout`), as asked with `?back=`.
    pub back: Option<String>,
    /// The address whose form was refused (`none`: the new address's form), what was typed,
    /// and why (`form` is `address`).
    pub refused_id: Option<i64>,
    pub typed: AddressTyped,
    pub error: Option<FormError>,
}

/// `inbox.html`: what the shop told me (消息), newest first.
#[derive(Debug, Clone, Serialize)]
pub struct InboxView {
    /// `id`, `body`, `read`, `created_at` of each (as the inbox API gives them).
    pub messages: Vec<MessageView>,
    pub unread: i64,
}

/// `quick_order.html`: 快速下单, codes and quantities pasted or uploaded as CSV or Excel.
#[derive(Debug, Clone, Serialize)]
pub struct QuickOrderView {
    /// The pasted rows as typed, after a refusal.
    pub pasted: String,
    /// The refused rows, each with `row`, `column`, `code` and `message` (nothing was added).
    pub rows: Vec<RowError>,
    /// The refusal of the whole form (`empty_order`, `invalid_file`, `too_many_lines`,
    /// `not_approved` …), `form` is `quick_order`.
    pub error: Option<FormError>,
}

/// `orders.html`: my orders (我的订单), a tab per status with how many are in it.
#[derive(Debug, Clone, Serialize)]
pub struct OrdersView {
    /// Every status, in E9's order, with its label in the member's words and its count.
    pub tabs: Vec<StatusCount>,
    /// The tab shown (`pending_confirmation` …); `none`: all.
    pub current: Option<OrderStatus>,
    /// How many orders I have in all.
    pub all_count: i64,
    /// The search typed (staff search every order in their scope), or none.
    pub q: Option<String>,
    /// The tab's orders, newest first (at most `MAX_LISTED`), as the orders API gives them.
    pub orders: Vec<OrderView>,
}

/// What the viewer may do to an order now, each a form on the order's page: the order's
/// member his own forms, staff theirs (the state machine's moves open to the viewer's parties).
#[derive(Debug, Clone, Default, Serialize)]
pub struct OrderActions {
    pub cancel: bool,
    pub confirm_receipt: bool,
    pub upload_receipt: bool,
    pub after_sales: bool,
    pub review: bool,
    pub reorder: bool,
    /// 确认 with per-line quantity and price changes and a reason (the confirmer, D5).
    pub confirm: bool,
    /// 拒绝 with a reason.
    pub reject: bool,
    /// 派单/发货: to one of `drivers`, or by a carrier with its tracking number (E2).
    pub dispatch: bool,
    /// 备货完成: set aside at one of `pickup_points` for the member to collect (E5).
    pub ready_for_pickup: bool,
    /// The assigned driver sets out (E3).
    pub start_delivery: bool,
    /// The assigned driver's photos of the signed note: received (E3).
    pub deliver: bool,
    /// The statuses customer service may move the order to, with a remark (E6).
    pub change_status: Vec<StatusChoice>,
    /// Record money received (F1): posts `amount` in yuan and `remark` to
    /// `/orders/{id}/payments` (those who settle orders, once it is confirmed and owed).
    pub mark_paid: bool,
    /// Release a credit hold (B6): posts `reason` to `/orders/{id}/release-hold`.
    pub release_hold: bool,
}

/// A status an order may be moved to, with its staff label.
#[derive(Debug, Clone, Serialize)]
pub struct StatusChoice {
    pub status: OrderStatus,
    pub label: &'static str,
}

/// A pickup point an order may be set aside at.
#[derive(Debug, Clone, Serialize)]
pub struct PickupChoice {
    pub id: i64,
    pub name: String,
    pub address: String,
}

/// `pickup.html`: the verifier's desk (核销): a code typed or scanned, and the order just
/// handed over, or why not.
#[derive(Debug, Clone, Serialize)]
pub struct PickupView {
    /// The code as typed, to fill the field again after a refusal.
    pub code: String,
    /// The order handed over (staff labels), after a good code.
    pub order: Option<OrderView>,
    /// `form` is `pickup`; `code` `unknown_pickup_code`, `wrong_pickup_point`,
    /// `invalid_transition`, `too_many_attempts` …
    pub error: Option<FormError>,
}

impl PageView for PickupView {
    const TEMPLATE: &'static str = "pickup.html";
    fn samples() -> Vec<(&'static str, PickupView)> {
        vec![
            (
                "empty",
                PickupView {
                    code: String::new(),
                    order: None,
                    error: None,
                },
            ),
            (
                "handed over",
                PickupView {
                    code: "123456789012".to_owned(),
                    order: Some(sample_order(1, OrderStatus::Received, MAX_LISTED)),
                    error: None,
                },
            ),
            (
                "refused",
                PickupView {
                    code: "<b>1</b>".to_owned(),
                    order: None,
                    error: Some(FormError {
                        form: "pickup",
                        code: "unknown_pickup_code".to_owned(),
                        field: Some("code".to_owned()),
                    }),
                },
            ),
        ]
    }
}

/// `add_member.html`: the verifier adds a customer at his store (添加会员, B5): phone, shop
/// and contact as typed, and the member just added, or why not.
#[derive(Debug, Clone, Serialize)]
pub struct AddMemberView {
    /// The fields as typed (after a refusal), by name: `phone`, `company_name`,
    /// `contact_name`.
    pub typed: BTreeMap<String, String>,
    /// The member just added: he signs in with an SMS code and completes his profile.
    pub added: Option<AddedMember>,
    /// `form` is `add_member`; `code` `phone_taken`, `invalid_phone`, `invalid_input` …
    pub error: Option<FormError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AddedMember {
    pub name: String,
    pub company_name: Option<String>,
    pub phone: String,
}

impl PageView for AddMemberView {
    const TEMPLATE: &'static str = "add_member.html";
    fn samples() -> Vec<(&'static str, AddMemberView)> {
        vec![
            (
                "empty",
                AddMemberView {
                    typed: BTreeMap::new(),
                    added: None,
                    error: None,
                },
            ),
            (
                "added",
                AddMemberView {
                    typed: BTreeMap::new(),
                    added: Some(AddedMember {
                        name: "孙老板 <i>".to_owned(),
                        company_name: Some("海口孙记五金 <b>".to_owned()),
                        phone: "13712345678".to_owned(),
                    }),
                    error: None,
                },
            ),
            (
                "refused",
                AddMemberView {
                    typed: BTreeMap::from([("phone".to_owned(), "<b>1</b>".to_owned())]),
                    added: None,
                    error: Some(FormError {
                        form: "add_member",
                        code: "phone_taken".to_owned(),
                        field: Some("phone".to_owned()),
                    }),
                },
            ),
        ]
    }
}

/// `customers.html`: 我的客户 — a manager's or promoter's customers, newest first, with his
/// invite code and QR code and his figures.
#[derive(Debug, Clone, Serialize)]
pub struct CustomersView {
    /// His invite code, its link and its QR code.
    pub invite: crate::members::relations::Invite,
    /// The customers in his scope as the members API gives them (at most `MAX_LISTED`).
    pub members: Vec<crate::members::review::MemberView>,
    /// How many customers in all, and how many wait for review.
    pub total: i64,
    pub waiting: i64,
    /// How many orders his scope holds (closed ones left out).
    pub order_count: i64,
    /// His figures over the window chosen (1, 7 or 30 days).
    pub figures: crate::orders::queries::Figures,
    /// Whether he may review his customers (approve, level, tags, credit: a manager), each
    /// on the member's page of the office, laid out for a phone too.
    pub may_review: bool,
}

/// `proxy_order.html` (代客下单): an order a manager or promoter puts together for one of his
/// customers — goods found by search, the lines priced as the customer pays them (his level,
/// the pricing rules), his address book, the shop's methods — placed through the same
/// checkout as the customer's own, with a key so a double tap makes one order.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyOrderView {
    pub customer: crate::members::review::MemberView,
    /// The words searched, and the goods found (no prices: the lines show his).
    pub q: String,
    pub results: Vec<ProxyGoods>,
    /// The lines so far, priced for him; empty before the first is added.
    pub lines: Vec<crate::orders::quote::QuotedLine>,
    pub quote: Option<QuoteTotals>,
    /// Why the lines could not be priced (a quantity off the pack, stock), the API's code.
    pub quote_error: Option<String>,
    pub delivery_methods: Vec<&'static str>,
    pub delivery: &'static str,
    pub needs_address: bool,
    pub addresses: Vec<Address>,
    pub address_id: Option<i64>,
    pub payment_methods: Vec<&'static str>,
    pub idempotency_key: String,
    /// Why placing it was refused, the API's code.
    pub error: Option<String>,
    pub remark: String,
    pub po_number: String,
}

/// A SKU found for an order on someone's behalf: what it is and the pack it is ordered in.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyGoods {
    pub sku_id: i64,
    pub name: String,
    pub model: String,
    pub spec: String,
    /// 「10把/盒 - 100把/箱」
    pub unit_label: String,
    /// The inner pack: the minimum and the step.
    pub moq: i64,
    pub item_unit: String,
}

impl PageView for ProxyOrderView {
    const TEMPLATE: &'static str = "proxy_order.html";
    fn samples() -> Vec<(&'static str, ProxyOrderView)> {
        let line = crate::orders::quote::QuotedLine {
            line_no: 1,
            sku_id: crate::ids::SkuId(11),
            product_id: crate::ids::ProductId(1),
            item_no: "AQM-001".to_owned(),
            name: "安全帽 <b>".to_owned(),
            model: "V型".to_owned(),
            spec: "红色 <i>".to_owned(),
            unit_label: "10个/盒 - 50个/箱".to_owned(),
            qty: 20,
            list_price_fen: 2600,
            adjustments: Vec::new(),
            line_total_fen: 52_000,
            weight_g: 8000,
            gift: false,
            brand_id: None,
            category_ids: Vec::new(),
        };
        let full = ProxyOrderView {
            customer: sample_member(1, crate::accounts::MemberState::Approved),
            q: "安全帽 <b>".to_owned(),
            results: vec![ProxyGoods {
                sku_id: 11,
                name: "安全帽 <b>".to_owned(),
                model: "V型".to_owned(),
                spec: "红色".to_owned(),
                unit_label: "10个/盒 - 50个/箱".to_owned(),
                moq: 10,
                item_unit: "个".to_owned(),
            }],
            lines: vec![line],
            quote: Some(QuoteTotals {
                goods_fen: 52_000,
                adjustments_fen: -500,
                shipping_fen: 800,
                total_fen: 52_300,
            }),
            quote_error: None,
            delivery_methods: vec!["ship", "pickup"],
            delivery: "ship",
            needs_address: true,
            addresses: sample_addresses(2),
            address_id: Some(1),
            payment_methods: vec!["cash_on_delivery", "bank_transfer"],
            idempotency_key: "0123456789abcdef0123456789abcdef".to_owned(),
            error: Some("insufficient_stock".to_owned()),
            remark: "下午送 <i>".to_owned(),
            po_number: "PO-1 <b>".to_owned(),
        };
        vec![
            ("lines priced, a refusal", full.clone()),
            (
                "nothing yet, no addresses",
                ProxyOrderView {
                    q: String::new(),
                    results: Vec::new(),
                    lines: Vec::new(),
                    quote: None,
                    quote_error: Some("invalid_quantity".to_owned()),
                    addresses: Vec::new(),
                    address_id: None,
                    error: None,
                    remark: String::new(),
                    po_number: String::new(),
                    ..full
                },
            ),
        ]
    }
}

/// `supplier_goods.html` (我的商品): a supplier's own goods, each SKU with its stock, his
/// price and cost, and what it sold over the window (L2).
#[derive(Debug, Clone, Serialize)]
pub struct SupplierGoodsView {
    pub products: Vec<SupplierProduct>,
    /// The window: 1, 7 or 30 days from `since`.
    pub days: i64,
    /// Every SKU's sales in the window, summed.
    pub sold_fen: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SupplierProduct {
    pub name: String,
    pub item_no: String,
    pub on_shelf: bool,
    pub item_unit: String,
    pub skus: Vec<SupplierSku>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SupplierSku {
    pub model: String,
    pub spec: String,
    pub stock: i64,
    pub low: bool,
    pub price_fen: i64,
    pub cost_fen: Option<i64>,
    pub sold_qty: i64,
    pub sold_fen: i64,
}

impl PageView for SupplierGoodsView {
    const TEMPLATE: &'static str = "supplier_goods.html";
    fn samples() -> Vec<(&'static str, SupplierGoodsView)> {
        let sku = |low: bool| SupplierSku {
            model: "V型 <b>".to_owned(),
            spec: "红色".to_owned(),
            stock: if low { 3 } else { 600 },
            low,
            price_fen: 2800,
            cost_fen: Some(1960),
            sold_qty: 120,
            sold_fen: 336_000,
        };
        vec![
            (
                "his goods",
                SupplierGoodsView {
                    products: vec![SupplierProduct {
                        name: "安全帽 <i>".to_owned(),
                        item_no: "AQM-001".to_owned(),
                        on_shelf: false,
                        item_unit: "个".to_owned(),
                        skus: vec![sku(false), sku(true)],
                    }],
                    days: 7,
                    sold_fen: 672_000,
                },
            ),
            (
                "no goods yet",
                SupplierGoodsView {
                    products: Vec::new(),
                    days: 30,
                    sold_fen: 0,
                },
            ),
        ]
    }
}

/// A sample member in `state`, as the members API gives him (the office's lists, 我的客户).
pub fn sample_member(
    id: i64,
    state: crate::accounts::MemberState,
) -> crate::members::review::MemberView {
    crate::members::review::MemberView {
        id,
        phone: "13712345678".to_owned(),
        name: "钱老板 <i>".to_owned(),
        company_name: Some("海口新五金 <b>".to_owned()),
        member_state: Some(state),
        level_id: Some(1),
        region_id: Some(1),
        manager_id: None,
        shop_name: Some("新五金店".to_owned()),
        wechat_id: Some("qian".to_owned()),
        shop_photo_url: Some("/api/v1/uploads/shop.jpg".to_owned()),
        licence_url: None,
        reject_reason: (state == crate::accounts::MemberState::Rejected)
            .then(|| "资料不全 <i>".to_owned()),
        promoter_id: None,
        credit_terms: "none".to_owned(),
        credit_limit_fen: 0,
        pending_change: None,
        created_at: "2026-11-30T09:00:00+08:00".to_owned(),
    }
}

fn sample_invite() -> crate::members::relations::Invite {
    crate::members::relations::Invite {
        invite_code: "AB12CD".to_owned(),
        invite_url: "https://shop.example/signup?invite=AB12CD&x=<i>".to_owned(),
        qr_url: "/api/v1/me/invite/qr.svg".to_owned(),
    }
}

impl PageView for CustomersView {
    const TEMPLATE: &'static str = "customers.html";
    fn samples() -> Vec<(&'static str, CustomersView)> {
        let member = crate::members::review::MemberView {
            credit_terms: "monthly".to_owned(),
            credit_limit_fen: 500_000,
            ..sample_member(1, crate::accounts::MemberState::Approved)
        };
        vec![
            (
                "a manager's customers",
                CustomersView {
                    invite: sample_invite(),
                    members: vec![member.clone(), member],
                    total: 2,
                    waiting: 1,
                    order_count: 12,
                    figures: crate::orders::queries::Figures {
                        days: 7,
                        since: "2026-11-24".to_owned(),
                        orders: 9,
                        sales_fen: 1_234_500,
                        completed: 4,
                        new_customers: 2,
                        customers: 31,
                    },
                    may_review: true,
                },
            ),
            (
                "none yet",
                CustomersView {
                    invite: sample_invite(),
                    members: Vec::new(),
                    total: 0,
                    waiting: 0,
                    order_count: 0,
                    figures: crate::orders::queries::Figures {
                        days: 30,
                        since: "2026-11-01".to_owned(),
                        ..Default::default()
                    },
                    may_review: false,
                },
            ),
        ]
    }
}

/// A driver an order may be dispatched to.
#[derive(Debug, Clone, Serialize)]
pub struct DriverChoice {
    pub id: i64,
    pub name: String,
    pub plate: Option<String>,
}

/// A form's refusal, shown by the form it came from.
#[derive(Debug, Clone, Serialize)]
pub struct FormError {
    /// Which form (`cancel`, `receive`, `receipt`, `after_sales`, `review`, `reorder` …).
    pub form: &'static str,
    /// The API's stable code (`invalid_image`, `reason_required`, `already_reviewed` …).
    pub code: String,
    /// The field it names, if any.
    pub field: Option<String>,
}

impl FormError {
    /// The API's refusal of `form`, as its page shows it.
    pub fn of(form: &'static str, error: &crate::error::ApiError) -> FormError {
        FormError {
            form,
            code: error.code.to_owned(),
            field: error.field.clone(),
        }
    }
}

/// `order.html`: one of my orders, its history, its delivery and what I can do.
#[derive(Debug, Clone, Serialize)]
pub struct OrderPageView {
    /// As the orders API gives it to the member (labels in his words, E9).
    pub order: OrderView,
    pub may: OrderActions,
    /// The pickup code as a QR picture (a `data:` URL of an SVG), when there is a code.
    pub pickup_qr: Option<String>,
    /// Where to transfer the money (F1), when the shop offers bank transfer.
    pub bank_account: Option<BankAccount>,
    /// The drivers of the order's region, when the viewer may dispatch it.
    pub drivers: Vec<DriverChoice>,
    /// The pickup points, when the viewer may set the order aside for collection.
    pub pickup_points: Vec<PickupChoice>,
    pub error: Option<FormError>,
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
pub const MAX_LISTED: usize = 50;

fn sample_flash_sales(prices: bool) -> Vec<FlashSale> {
    vec![
        FlashSale {
            id: 1,
            name: "双十二 安全帽 <b>秒杀</b>".to_owned(),
            state: "active".to_owned(),
            seconds_left: 3 * 3600 + 61,
            starts_at_ms: 1_765_000_000_000,
            ends_at_ms: 1_765_000_000_000 + (3 * 3600 + 61) * 1000,
            remaining: 120,
            items: (1..=3)
                .map(|n| FlashSaleItem {
                    sku_id: n,
                    price_fen: prices.then_some(1990),
                    product_id: (n != 3).then_some(n),
                })
                .collect(),
        },
        FlashSale {
            id: 2,
            name: "周末清仓".to_owned(),
            state: "upcoming".to_owned(),
            seconds_left: 2 * 86_400,
            starts_at_ms: 1_765_000_000_000 + 2 * 86_400_000,
            ends_at_ms: 1_765_000_000_000 + 3 * 86_400_000,
            remaining: 0,
            items: Vec::new(),
        },
    ]
}

impl PageView for HomeView {
    const TEMPLATE: &'static str = "home.html";
    fn samples() -> Vec<(&'static str, HomeView)> {
        let drawn = |kind: &str| DrawnSection {
            kind: kind.to_owned(),
            html: "<p>版块 <b>已绘制</b></p>".to_owned(),
        };
        vec![
            (
                "the published page",
                HomeView {
                    title: String::new(),
                    colors: BTreeMap::from([("primary".to_owned(), "#0a7d4f".to_owned())]),
                    sections: ["search", "banner", "goods"]
                        .into_iter()
                        .map(drawn)
                        .collect(),
                    preview: None,
                },
            ),
            (
                "a draft in preview",
                HomeView {
                    title: "春季促销 <i>".to_owned(),
                    colors: BTreeMap::new(),
                    sections: vec![drawn("notice")],
                    preview: Some("home".to_owned()),
                },
            ),
            (
                "an empty page",
                HomeView {
                    title: String::new(),
                    colors: BTreeMap::new(),
                    sections: Vec::new(),
                    preview: None,
                },
            ),
        ]
    }
}

/// Samples of one section type with `settings` (already checked): with prices and data, and
/// for a visitor who sees none and an empty shop.
pub fn section_samples(
    kind: &str,
    settings: &serde_json::Value,
) -> Vec<(&'static str, SectionView)> {
    let full = SectionView {
        kind: kind.to_owned(),
        settings: settings.clone(),
        signed_in: true,
        prices_visible: true,
        products: sample_products(true, MAX_LISTED),
        brands: sample_brands(12),
        categories: sample_categories(12),
        flash_sales: sample_flash_sales(true),
    };
    vec![
        ("with data, prices shown", full.clone()),
        (
            "a visitor, prices hidden",
            SectionView {
                signed_in: false,
                prices_visible: false,
                products: sample_products(false, 3),
                flash_sales: sample_flash_sales(false),
                ..full.clone()
            },
        ),
        (
            "an empty shop",
            SectionView {
                products: Vec::new(),
                brands: Vec::new(),
                categories: Vec::new(),
                flash_sales: Vec::new(),
                ..full
            },
        ),
    ]
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
                    brand: sample_brands(1).into_iter().next(),
                    brands: sample_brands(MAX_LISTED).into(),
                    sort: "price_asc",
                    sorts: vec!["relevance", "new", "price_asc", "price_desc"],
                    scan: false,
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
                    brand: None,
                    brands: Vec::new().into(),
                    sort: "new",
                    sorts: vec!["new"],
                    scan: true,
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
                    brand: None,
                    brands: sample_brands(2).into(),
                    sort: "relevance",
                    sorts: vec!["relevance", "new"],
                    scan: false,
                    products: Vec::new(),
                    total: 0,
                    prices_visible: false,
                },
            ),
        ]
    }
}

fn sample_brands(n: usize) -> Vec<Brand> {
    (1..=i64::try_from(n).unwrap_or(0))
        .map(|id| Brand {
            id,
            name: format!("品牌{id} <i>"),
            logo_url: (id % 2 == 0).then(|| format!("/api/v1/images/brand-{id}.png")),
            description: "专业劳保 <script>".to_owned(),
        })
        .collect()
}

impl PageView for BrandsView {
    const TEMPLATE: &'static str = "brands.html";
    fn samples() -> Vec<(&'static str, BrandsView)> {
        vec![
            (
                "brands",
                BrandsView {
                    brands: sample_brands(MAX_LISTED).into(),
                },
            ),
            (
                "none",
                BrandsView {
                    brands: Vec::new().into(),
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
                            children: sample_categories(4)
                                .into_iter()
                                .map(|c| CategoryGroup {
                                    id: c.id,
                                    name: c.name,
                                    children: sample_categories(6)
                                        .into_iter()
                                        .map(|c| CategoryGroup {
                                            id: c.id,
                                            name: c.name,
                                            children: Vec::new(),
                                        })
                                        .collect(),
                                })
                                .collect(),
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
                    mode: "password",
                    code_sent_to: None,
                },
            ),
            (
                "a wrong password",
                SignInView {
                    next: "/me".to_owned(),
                    phone: "13800000000".to_owned(),
                    error: Some("invalid_credentials".to_owned()),
                    mode: "password",
                    code_sent_to: None,
                },
            ),
            (
                "a code sent",
                SignInView {
                    next: "/".to_owned(),
                    phone: "13800000000".to_owned(),
                    error: Some("invalid_code".to_owned()),
                    mode: "code",
                    code_sent_to: Some("138****0000".to_owned()),
                },
            ),
        ]
    }
}

impl PageView for SignUpView {
    const TEMPLATE: &'static str = "sign_up.html";
    fn samples() -> Vec<(&'static str, SignUpView)> {
        let blank = SignUpView {
            phone: String::new(),
            company_name: String::new(),
            contact_name: String::new(),
            invite_code: String::new(),
            code_sent_to: None,
            error: None,
        };
        vec![
            ("first visit", blank.clone()),
            (
                "a code sent, then refused",
                SignUpView {
                    phone: "13800000000".to_owned(),
                    company_name: "海口五金 <b>".to_owned(),
                    contact_name: "钱老板".to_owned(),
                    invite_code: "ABC123".to_owned(),
                    code_sent_to: Some("138****0000".to_owned()),
                    error: Some(FormError {
                        form: "sign_up",
                        code: "weak_password".to_owned(),
                        field: Some("password".to_owned()),
                    }),
                },
            ),
            (
                "the code refused",
                SignUpView {
                    error: Some(FormError {
                        form: "code",
                        code: "too_many_requests".to_owned(),
                        field: None,
                    }),
                    ..blank
                },
            ),
        ]
    }
}

impl PageView for ForgotView {
    const TEMPLATE: &'static str = "forgot.html";
    fn samples() -> Vec<(&'static str, ForgotView)> {
        vec![
            (
                "first visit",
                ForgotView {
                    phone: String::new(),
                    code_sent_to: None,
                    error: None,
                },
            ),
            (
                "refused",
                ForgotView {
                    phone: "13800000000".to_owned(),
                    code_sent_to: Some("138****0000".to_owned()),
                    error: Some(FormError {
                        form: "reset",
                        code: "invalid_code".to_owned(),
                        field: Some("code".to_owned()),
                    }),
                },
            ),
        ]
    }
}

impl PageView for ProfileView {
    const TEMPLATE: &'static str = "profile.html";
    fn samples() -> Vec<(&'static str, ProfileView)> {
        use crate::accounts::MemberState;
        use crate::members::profile::PendingChange;
        let regions = vec![
            Region {
                id: 1,
                name: "海口 <i>".to_owned(),
            },
            Region {
                id: 2,
                name: "三亚".to_owned(),
            },
        ];
        let fresh = MyProfile {
            member_state: Some(MemberState::Authorised),
            shop_name: None,
            wechat_id: None,
            region_id: None,
            shop_photo_url: None,
            licence_url: None,
            reject_reason: None,
            pending_change: None,
            change_reject_reason: None,
        };
        vec![
            (
                "a new member",
                ProfileView {
                    profile: fresh.clone(),
                    regions: regions.clone(),
                    typed: BTreeMap::new(),
                    error: None,
                },
            ),
            (
                "rejected, refused again",
                ProfileView {
                    profile: MyProfile {
                        member_state: Some(MemberState::Rejected),
                        shop_name: Some("海口五金 <b>".to_owned()),
                        region_id: Some(2),
                        shop_photo_url: Some("/api/v1/uploads/a.jpg".to_owned()),
                        licence_url: Some("/api/v1/uploads/b.jpg".to_owned()),
                        reject_reason: Some("照片不清楚 <script>".to_owned()),
                        ..fresh.clone()
                    },
                    regions: regions.clone(),
                    typed: [("contact_name", "钱老板"), ("address", "<i>迎宾路</i>")]
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                    error: Some(FormError {
                        form: "profile",
                        code: "invalid_image".to_owned(),
                        field: Some("licence".to_owned()),
                    }),
                },
            ),
            (
                "approved, a change waiting",
                ProfileView {
                    profile: MyProfile {
                        member_state: Some(MemberState::Approved),
                        shop_name: Some("海口五金".to_owned()),
                        region_id: Some(1),
                        pending_change: Some(PendingChange {
                            shop_name: Some("海口五金二店".to_owned()),
                            shop_photo_url: None,
                            licence_url: None,
                            submitted_at: "2026-11-30T10:00:00+08:00".to_owned(),
                        }),
                        change_reject_reason: Some("名称不符".to_owned()),
                        ..fresh
                    },
                    regions,
                    typed: BTreeMap::new(),
                    error: None,
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
                    order_counts: OrderStatus::ALL
                        .into_iter()
                        .map(|status| StatusCount {
                            status,
                            label: status.label(Audience::Member).to_owned(),
                            count: 2,
                        })
                        .collect(),
                    desks: Vec::new(),
                },
            ),
            (
                "staff",
                MeView {
                    name: "李四".to_owned(),
                    phone: "139****0000".to_owned(),
                    company_name: None,
                    member_state: None,
                    order_counts: Vec::new(),
                    desks: [
                        "confirm_orders",
                        "dispatch_orders",
                        "deliveries",
                        "in_delivery",
                        "all_orders",
                    ]
                    .into_iter()
                    .enumerate()
                    .map(|(n, key)| DeskEntry {
                        key,
                        href: "/orders",
                        count: (n < 4).then_some(3),
                    })
                    .collect(),
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
        reviews: prices.then(|| ProductReviews {
            count: 41,
            average_x10: 45,
            reviews: (1..=i64::try_from(MAX_LISTED).unwrap_or(40))
                .map(|id| Review {
                    id,
                    product_id: 1,
                    rating: 1 + id % 5,
                    body: "很结实 <img src=x onerror=alert(1)>".to_owned(),
                    status: "approved".to_owned(),
                    reviewer: "赵**".to_owned(),
                    photos: (0..id % 3)
                        .map(|n| format!("/api/v1/uploads/review-{n}.jpg"))
                        .collect(),
                    created_at: "2026-11-30T09:00:00+08:00".to_owned(),
                })
                .collect(),
        }),
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

/// A coupon to pick, points to spend and a box to tick, as the plugins offer them.
fn sample_choices() -> Vec<CheckoutChoice> {
    use pifa_sdk::{Choice, FieldKind, FormField};
    let coupons = FormField {
        options: (0..20)
            .map(|i| Choice {
                value: if i == 0 { String::new() } else { i.to_string() },
                label: if i == 0 {
                    "不使用优惠券".to_owned()
                } else {
                    format!("满300减30 <i>{i}")
                },
            })
            .collect(),
        ..FormField::new("coupon_id", "优惠券", FieldKind::Select).value("3")
    };
    let mut points =
        FormField::new("points", "使用积分", FieldKind::Number).help("可用1230分，100分抵¥1.00");
    points.placeholder = "本单最多可用1230分".to_owned();
    let gift = FormField::new("gift", "不要赠品", FieldKind::Checkbox).value("on");
    let text = FormField::new("note", "留言", FieldKind::Text);
    CheckoutChoice::of(
        &[
            ("coupons", coupons),
            ("points", points),
            ("full-reduction", gift),
            ("other", text),
        ]
        .map(|(plugin, field)| crate::orders::quote::PluginChoice {
            plugin: plugin.to_owned(),
            field,
        }),
    )
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
            po_number: String::new(),
            requested_date: String::new(),
            address_id: Some(1),
            buy_now: None,
            offers: vec![
                crate::orders::quote::OfferNote {
                    plugin: "full-reduction".to_owned(),
                    text: "再买 ¥120.00 减 ¥50.00 <b>".to_owned(),
                },
                crate::orders::quote::OfferNote {
                    plugin: "coupons".to_owned(),
                    text: "有2张优惠券可用".to_owned(),
                },
            ],
            choices: sample_choices(),
            options_query: "&opt.coupons.coupon_id=3&opt.points.points=<b>".to_owned(),
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
                    po_number: "PO-1 <i>".to_owned(),
                    requested_date: "2026-12-10".to_owned(),
                    address_id: None,
                    buy_now: Some(LineRequest {
                        sku_id: SkuId(3),
                        qty: 20,
                    }),
                    ..full.clone()
                },
            ),
            (
                "no address yet",
                CheckoutView {
                    addresses: Vec::new(),
                    address_id: None,
                    quote: None,
                    error: Some("address_required".to_owned()),
                    offers: Vec::new(),
                    choices: Vec::new(),
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

/// An order as the member reads it, in `status`, with `lines` lines.
/// `n` sample orders of three lines, one status after another.
pub fn sample_orders(n: usize) -> Vec<OrderView> {
    OrderStatus::ALL
        .into_iter()
        .cycle()
        .take(n)
        .zip(1..)
        .map(|(status, id)| sample_order(id, status, 3))
        .collect()
}

fn sample_order(id: i64, status: OrderStatus, lines: usize) -> OrderView {
    use crate::ids::{MemberId, OrderId, ProductId, SkuId};
    use crate::money::Fen;
    use crate::orders::fulfilment::{Driver, Fulfilment, Shipment};
    use crate::orders::pickup::PickupPoint;
    use crate::orders::quote::{Adjustment, QuotedLine};
    use crate::orders::record::{
        HistoryEntry, OrderAddress, OrderLine, OrderRecord, PaymentRecord,
    };
    use crate::quantity::Quantity;
    let pickup = matches!(status, OrderStatus::ReadyForPickup);
    let adjustment = Adjustment {
        source: "catalog".to_owned(),
        label: "会员价 <i>".to_owned(),
        amount_fen: -120,
        final_sale: false,
    };
    OrderRecord {
        id: OrderId(id),
        member_id: MemberId(7),
        member_name: "张三".to_owned(),
        shop_name: Some("三亚五金店".to_owned()),
        placed_by: 7,
        region_id: Some(1),
        manager_id: Some(2),
        promoter_id: None,
        level_id: None,
        status,
        credit_hold: false,
        payment_method: crate::settings::PaymentMethod::BankTransfer,
        delivery_method: if pickup {
            crate::orders::DeliveryMethod::Pickup
        } else {
            crate::orders::DeliveryMethod::Ship
        },
        address: (!pickup).then(|| OrderAddress {
            province: "海南省".to_owned(),
            city: "三亚市".to_owned(),
            district: "吉阳区".to_owned(),
            detail: "迎宾路 1 号 <script>".to_owned(),
            contact_name: "张三".to_owned(),
            phone: "13900000001".to_owned(),
        }),
        remark: "请上午送 <b>".to_owned(),
        po_number: "PO-2026-001".to_owned(),
        requested_date: Some("2026-12-10".to_owned()),
        goods_fen: Fen(123_400),
        shipping_fen: Fen(1500),
        adjustments_fen: Fen(-1000),
        total_fen: Fen(123_900),
        paid_fen: Fen(0),
        refunded_fen: Fen(0),
        after_sales_open: matches!(status, OrderStatus::Completed),
        weight_g: 12_000,
        close_reason: matches!(status, OrderStatus::Closed).then(|| "客户取消".to_owned()),
        placed_at: 1_764_460_800_000,
        confirmed_at: None,
        confirmed_by: None,
        paid_at: None,
        closed_at: None,
        parent: None,
        lines: (0..lines)
            .map(|i| {
                let n = i64::try_from(i).unwrap_or(0) + 1;
                OrderLine {
                    line: QuotedLine {
                        line_no: n,
                        sku_id: SkuId(n),
                        product_id: ProductId(n),
                        item_no: format!("A{n:04}"),
                        name: format!("样品商品 {n} <b>"),
                        model: "M8".to_owned(),
                        spec: "红色".to_owned(),
                        unit_label: "10把/盒 - 100把/箱".to_owned(),
                        qty: 20,
                        list_price_fen: 1230,
                        adjustments: vec![adjustment.clone()],
                        line_total_fen: 24_480,
                        weight_g: 500,
                        gift: false,
                        brand_id: None,
                        category_ids: Vec::new(),
                    },
                    reserved_qty: Quantity::ZERO,
                    backorder_qty: Quantity::ZERO,
                    followup_qty: Quantity::ZERO,
                }
            })
            .collect(),
        adjustments: vec![adjustment],
        payments: vec![PaymentRecord {
            kind: "receipt".to_owned(),
            amount_fen: 1000,
            proof_url: Some("/api/v1/uploads/sample.jpg".to_owned()),
            remark: "转账 <i>".to_owned(),
            actor_id: 7,
            at: "2026-11-30T10:00:00+08:00".to_owned(),
        }],
        history: vec![HistoryEntry {
            at: "2026-11-30T09:00:00+08:00".to_owned(),
            actor_id: Some(7),
            action: "placed".to_owned(),
            from_status: None,
            to_status: OrderStatus::PendingConfirmation,
            remark: "<b>备注</b>".to_owned(),
        }],
        fulfilment: Fulfilment {
            shipment: Some(Shipment::Driver),
            driver: Some(Driver {
                id: 3,
                name: "李师傅".to_owned(),
                phone: "13700000000".to_owned(),
                plate: Some("琼B12345".to_owned()),
            }),
            carrier: "顺丰".to_owned(),
            tracking_no: "SF123".to_owned(),
            expected_date: Some("2026-12-01".to_owned()),
            photos: vec!["sample-note.jpg".to_owned()],
            pickup_point: pickup.then(|| PickupPoint {
                id: 1,
                name: "三亚自提点".to_owned(),
                address: "三亚市 <i>".to_owned(),
                map_url: "https://uri.amap.com/marker?position=109.5,18.2".to_owned(),
                phone: "0898-1234567".to_owned(),
                region_id: Some(1),
            }),
            pickup_code: pickup.then(|| "12345678".to_owned()),
            ..Fulfilment::default()
        },
    }
    .view(Audience::Member)
}

impl PageView for OrdersView {
    const TEMPLATE: &'static str = "orders.html";
    fn samples() -> Vec<(&'static str, OrdersView)> {
        let tabs: Vec<StatusCount> = OrderStatus::ALL
            .into_iter()
            .map(|status| StatusCount {
                status,
                label: status.label(Audience::Member).to_owned(),
                count: 3,
            })
            .collect();
        vec![
            (
                "every status",
                OrdersView {
                    tabs: tabs.clone(),
                    current: None,
                    all_count: 24,
                    q: Some("海口 <i>".to_owned()),
                    orders: sample_orders(MAX_LISTED),
                },
            ),
            (
                "an empty tab",
                OrdersView {
                    tabs,
                    current: Some(OrderStatus::InDelivery),
                    all_count: 0,
                    q: None,
                    orders: Vec::new(),
                },
            ),
        ]
    }
}

impl PageView for OrderPageView {
    const TEMPLATE: &'static str = "order.html";
    fn samples() -> Vec<(&'static str, OrderPageView)> {
        let all = OrderActions {
            cancel: true,
            confirm_receipt: true,
            upload_receipt: true,
            after_sales: true,
            review: true,
            reorder: true,
            confirm: true,
            reject: true,
            dispatch: true,
            ready_for_pickup: true,
            start_delivery: true,
            deliver: true,
            change_status: OrderStatus::ALL
                .into_iter()
                .map(|status| StatusChoice {
                    status,
                    label: status.label(crate::orders::Audience::Business),
                })
                .collect(),
            mark_paid: true,
            release_hold: true,
        };
        OrderStatus::ALL
            .into_iter()
            .map(|status| {
                (
                    "an order",
                    OrderPageView {
                        order: sample_order(1, status, MAX_LISTED),
                        may: all.clone(),
                        pickup_qr: Some("data:image/svg+xml;base64,PHN2Zy8+".to_owned()),
                        bank_account: Some(BankAccount {
                            bank_name: "工商银行 <i>".to_owned(),
                            account_name: "样品商贸".to_owned(),
                            account_number: "6222 0000".to_owned(),
                        }),
                        drivers: vec![
                            DriverChoice {
                                id: 31,
                                name: "张师傅 <b>".to_owned(),
                                plate: Some("琼A·3K721".to_owned()),
                            },
                            DriverChoice {
                                id: 32,
                                name: "李师傅".to_owned(),
                                plate: None,
                            },
                        ],
                        pickup_points: vec![PickupChoice {
                            id: 1,
                            name: "海口 <i>自提点</i>".to_owned(),
                            address: "龙华区金盘路 8 号".to_owned(),
                        }],
                        error: Some(FormError {
                            form: "after_sales",
                            code: "invalid_image".to_owned(),
                            field: Some("photo".to_owned()),
                        }),
                    },
                )
            })
            .chain([(
                "nothing to do",
                OrderPageView {
                    order: sample_order(2, OrderStatus::Closed, 1),
                    may: OrderActions::default(),
                    pickup_qr: None,
                    bank_account: None,
                    drivers: Vec::new(),
                    pickup_points: Vec::new(),
                    error: None,
                },
            )])
            .collect()
    }
}

impl PageView for AddressBookView {
    const TEMPLATE: &'static str = "addresses.html";
    fn samples() -> Vec<(&'static str, AddressBookView)> {
        vec![
            (
                "a full book",
                AddressBookView {
                    addresses: sample_addresses(MAX_LISTED),
                    back: Some("/checkout".to_owned()),
                    refused_id: Some(2),
                    typed: AddressTyped {
                        detail: "<script>".to_owned(),
                        is_default: Some("on".to_owned()),
                        ..AddressTyped::default()
                    },
                    error: Some(FormError {
                        form: "address",
                        code: "invalid_phone".to_owned(),
                        field: Some("phone".to_owned()),
                    }),
                },
            ),
            (
                "none yet",
                AddressBookView {
                    addresses: Vec::new(),
                    back: None,
                    refused_id: None,
                    typed: AddressTyped::default(),
                    error: None,
                },
            ),
        ]
    }
}

impl PageView for InboxView {
    const TEMPLATE: &'static str = "inbox.html";
    fn samples() -> Vec<(&'static str, InboxView)> {
        let message = |id: i64, read: bool| MessageView {
            id,
            channel: "inbox".to_owned(),
            recipient: "13900000001".to_owned(),
            user_id: Some(7),
            template: String::new(),
            params: serde_json::json!({}),
            body: format!("您的订单 2026113000012{id} 已发货 <b>"),
            state: "sent".to_owned(),
            attempts: 1,
            last_error: None,
            next_attempt_at: None,
            event_id: None,
            provider_ref: None,
            read,
            created_at: "2026-11-30T09:00:00+08:00".to_owned(),
            sent_at: None,
        };
        vec![
            (
                "a full inbox",
                InboxView {
                    messages: (1..=i64::try_from(MAX_LISTED).unwrap_or(40))
                        .map(|id| message(id, id % 2 == 0))
                        .collect(),
                    unread: 20,
                },
            ),
            (
                "empty",
                InboxView {
                    messages: Vec::new(),
                    unread: 0,
                },
            ),
        ]
    }
}

impl PageView for QuickOrderView {
    const TEMPLATE: &'static str = "quick_order.html";
    fn samples() -> Vec<(&'static str, QuickOrderView)> {
        vec![
            (
                "first visit",
                QuickOrderView {
                    pasted: String::new(),
                    rows: Vec::new(),
                    error: None,
                },
            ),
            (
                "rows refused",
                QuickOrderView {
                    pasted: "6901234500011 20\nXX <b> 3".to_owned(),
                    rows: (1..=MAX_LISTED)
                        .map(|row| RowError {
                            row,
                            column: "编码".to_owned(),
                            code: "unknown_code".to_owned(),
                            message: "找不到条码或货号 <b>".to_owned(),
                        })
                        .collect(),
                    error: Some(FormError {
                        form: "quick_order",
                        code: "quick_order_invalid".to_owned(),
                        field: Some("file".to_owned()),
                    }),
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
                screens: Vec::new(),
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
                    unread: 3,
                }),
                csrf_token: Some("0".repeat(64)),
                notice: Some("signed_in"),
                path: "/search".to_owned(),
                screens: vec![
                    ScreenLink {
                        plugin: "points".to_owned(),
                        label: "积分商城 <b>".to_owned(),
                        href: "/p/points/mall".to_owned(),
                        place: "mine",
                    },
                    ScreenLink {
                        plugin: "coupons".to_owned(),
                        label: "优惠券".to_owned(),
                        href: "/admin/p/coupons/office".to_owned(),
                        place: "office",
                    },
                ],
            },
        ),
    ]
}

/// Every page template a theme must have.
pub const PAGE_TEMPLATES: [&str; 25] = [
    HomeView::TEMPLATE,
    super::screens::ScreenView::TEMPLATE,
    SupplierGoodsView::TEMPLATE,
    PickupView::TEMPLATE,
    AddMemberView::TEMPLATE,
    CustomersView::TEMPLATE,
    ProxyOrderView::TEMPLATE,
    QuickOrderView::TEMPLATE,
    BrandsView::TEMPLATE,
    AddressBookView::TEMPLATE,
    InboxView::TEMPLATE,
    SignUpView::TEMPLATE,
    ForgotView::TEMPLATE,
    ProfileView::TEMPLATE,
    OrdersView::TEMPLATE,
    OrderPageView::TEMPLATE,
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

/// The samples of one page as (template, what it shows, the view as a value).
pub fn samples_of<V: PageView>() -> Vec<(&'static str, &'static str, minijinja::Value)> {
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

/// Every page sample as (template, what it shows, the view as a value).
pub fn page_samples() -> Vec<(&'static str, &'static str, minijinja::Value)> {
    let mut all = samples_of::<HomeView>();
    all.extend(samples_of::<SearchView>());
    all.extend(samples_of::<ProductView>());
    all.extend(samples_of::<CartPageView>());
    all.extend(samples_of::<QuickOrderView>());
    all.extend(samples_of::<CheckoutView>());
    all.extend(samples_of::<OrderPlacedView>());
    all.extend(samples_of::<OrdersView>());
    all.extend(samples_of::<OrderPageView>());
    all.extend(samples_of::<PickupView>());
    all.extend(samples_of::<AddMemberView>());
    all.extend(samples_of::<CustomersView>());
    all.extend(samples_of::<ProxyOrderView>());
    all.extend(samples_of::<SupplierGoodsView>());
    all.extend(samples_of::<CategoriesView>());
    all.extend(samples_of::<BrandsView>());
    all.extend(samples_of::<SignInView>());
    all.extend(samples_of::<SignUpView>());
    all.extend(samples_of::<ForgotView>());
    all.extend(samples_of::<ProfileView>());
    all.extend(samples_of::<AddressBookView>());
    all.extend(samples_of::<InboxView>());
    all.extend(samples_of::<MeView>());
    all.extend(samples_of::<super::screens::ScreenView>());
    all.extend(samples_of::<ErrorView>());
    all
}
