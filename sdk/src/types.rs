//! The JSON payloads of `pifa:plugin@0.1.0`, one definition for both sides: the kernel
//! serialises them into a hook, the plugin deserialises them (and back). Fields may be added
//! in later API versions; unknown fields are ignored, so an older plugin keeps working.
//! Money is integer fen (`i64`), times are epoch milliseconds (UTC).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The API version this SDK speaks; the kernel refuses a plugin declaring one it does not.
pub const API_VERSION: &str = "0.1";

/// What a plugin is and needs, returned by its `manifest` export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The plugin's name: lowercase letters, digits and `-`; its routes live under
    /// `/api/v1/plugins/<name>/`.
    pub name: String,
    /// The plugin's own version (semver).
    pub version: String,
    /// The API version it was built against (`API_VERSION`).
    pub api: String,
    /// The hooks it implements; the kernel calls no other.
    pub hooks: Vec<Hook>,
    /// Host interfaces it needs beyond `log`; each must be granted in `plugins.toml`.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// A JSON Schema its settings (from `plugins.toml`) must satisfy.
    #[serde(default)]
    pub settings_schema: Option<Value>,
    /// The HTTP routes `handle-http` serves.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Event kinds `on-event` wants (`order.closed` …); `*` for all.
    #[serde(default)]
    pub events: Vec<String>,
}

/// A hook a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    Quote,
    Checkout,
    OnEvent,
    HandleHttp,
    OnTick,
}

impl Hook {
    pub const ALL: [Hook; 5] = [
        Hook::Quote,
        Hook::Checkout,
        Hook::OnEvent,
        Hook::HandleHttp,
        Hook::OnTick,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Quote => "quote",
            Hook::Checkout => "checkout",
            Hook::OnEvent => "on-event",
            Hook::HandleHttp => "handle-http",
            Hook::OnTick => "on-tick",
        }
    }

    pub fn parse(text: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|h| h.as_str() == text)
    }
}

/// A host interface a plugin may be granted (`log` always is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    Clock,
    Kv,
    CatalogRead,
    Notify,
    /// The `pages` interface (the theme's section types and their check), and routes that
    /// `mount` a page on the storefront.
    Pages,
    /// Routes that take a `picture`: the kernel stores the uploaded image and the plugin gets
    /// its URL. No interface: the bytes never reach the plugin.
    Pictures,
    /// The `emit` interface: events into the shop's outbox (`plugin.<name>.<kind>`), for the
    /// notification rules and for other plugins granted them.
    Emit,
    /// Routes that answer a [`crate::Screen`] (`Route::screen`), drawn by the theme in the
    /// phone app and the back office. No interface.
    Screens,
}

impl Capability {
    pub const ALL: [Capability; 8] = [
        Capability::Clock,
        Capability::Kv,
        Capability::CatalogRead,
        Capability::Notify,
        Capability::Pages,
        Capability::Pictures,
        Capability::Emit,
        Capability::Screens,
    ];

    /// The interface's name in the WIT package (`kv` → `pifa:plugin/kv@0.1.0`).
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Clock => "clock",
            Capability::Kv => "kv",
            Capability::CatalogRead => "catalog-read",
            Capability::Notify => "notify",
            Capability::Pages => "pages",
            Capability::Pictures => "pictures",
            Capability::Emit => "emit",
            Capability::Screens => "screens",
        }
    }

    pub fn parse(text: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// An HTTP route a plugin serves, relative to `/api/v1/plugins/<name>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// `GET`, `POST`, `PUT`, `DELETE`.
    pub method: String,
    /// `/sales` or `/sales/{id}`: literal segments and `{name}` parameters.
    pub path: String,
    /// Roles that may call it (`admin`, `customer_service`, `manager`, `member` …), or
    /// `public` for anyone, signed in or not. The kernel checks before the plugin runs.
    pub roles: Vec<String>,
    #[serde(default)]
    pub summary: String,
    /// JSON Schema of the request body (published in the OpenAPI document).
    #[serde(default)]
    pub request_schema: Option<Value>,
    /// JSON Schema of the response body.
    #[serde(default)]
    pub response_schema: Option<Value>,
    /// For a `public` `GET` route whose answer is the same for everyone who sees prices, and
    /// the same for everyone who does not (a storefront's countdowns): the kernel calls it
    /// without the caller's identity (`caller` carries `sees_prices` alone) and keeps each
    /// answer this many seconds (1 to 60) per path, query and price visibility, so the shop's
    /// pages can show it on every view at no cost. A value the plugin stores clears the kept
    /// answers at once; counters (stock sold) show within the seconds. 0, the default: the
    /// route is called for every request, with the caller.
    #[serde(default)]
    pub shared_seconds: u32,
    /// Where the storefront serves this `GET` route as a page (capability `pages`): `/` (the
    /// homepage) or a path under `/pages/` (`/pages/{slug}`). Its answer's body is a
    /// [`PageLayout`], which the kernel draws through the active theme's section templates
    /// with the viewer's prices; an error answer (404 most often) leaves the kernel's own page
    /// for `/` and a not-found page elsewhere. One plugin per mount: a second does not load.
    #[serde(default)]
    pub mount: Option<String>,
    /// A `POST` route whose request body is an image (JPEG, PNG or WebP; capability
    /// `pictures`): the kernel checks and stores it as the shop's other pictures and calls the
    /// plugin with `body` = [`Picture`]. Only for staff roles.
    #[serde(default)]
    pub picture: bool,
    /// A `GET` route whose answer is a [`crate::Screen`] (capability `screens`): the kernel
    /// serves it as a page of the phone app (`/p/<plugin><path>`) and of the back office
    /// (`/admin/p/<plugin><path>`), with an entry where [`crate::ScreenEntry::place`] says
    /// for the roles of the route.
    #[serde(default)]
    pub screen: Option<crate::ScreenEntry>,
}

impl Route {
    /// A route: its method, its path, the roles that may call it and what it does.
    pub fn new(method: &str, path: &str, roles: &[&str], summary: &str) -> Route {
        Route {
            method: method.to_owned(),
            path: path.to_owned(),
            roles: roles.iter().map(|role| (*role).to_owned()).collect(),
            summary: summary.to_owned(),
            ..Route::default()
        }
    }

    /// A `GET` route answering a [`crate::Screen`], entered as `label` from `place`.
    pub fn screen(
        path: &str,
        roles: &[&str],
        summary: &str,
        label: &str,
        place: crate::ScreenPlace,
    ) -> Route {
        Route {
            screen: Some(crate::ScreenEntry {
                label: label.to_owned(),
                place,
            }),
            response_schema: Some(serde_json::json!({
                "$comment": "pifa_sdk::Screen",
                "type": "object",
                "required": ["title", "blocks"]
            })),
            ..Route::new("GET", path, roles, summary)
        }
    }

    /// With the JSON Schema of its request body.
    pub fn with_request(self, schema: Value) -> Route {
        Route {
            request_schema: Some(schema),
            ..self
        }
    }

    /// With the JSON Schema of its answer.
    pub fn with_response(self, schema: Value) -> Route {
        Route {
            response_schema: Some(schema),
            ..self
        }
    }
}

/// Who is buying, as pricing sees him.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buyer {
    pub member_id: i64,
    #[serde(default)]
    pub level_id: Option<i64>,
    #[serde(default)]
    pub region_id: Option<i64>,
}

/// A cart line as the plugin sees it: the price so far (catalogue, script and earlier plugins).
/// Fields at their default are left out of the JSON (the plugin pays fuel for every byte it
/// parses, for every line); each reads as its default when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// 1-based; adjustments name their line by it.
    pub line_no: i64,
    pub sku_id: i64,
    pub product_id: i64,
    pub qty: i64,
    /// The catalogue's list price of one item.
    pub list_price_fen: i64,
    /// The line's total so far.
    pub line_total_fen: i64,
    /// The product's category and the categories above it, nearest first (a scope of a
    /// top-level category covers its sub-categories).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category_ids: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_id: Option<i64>,
    /// A gift line an earlier plugin added (its total is 0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gift: bool,
    /// What the steps before this plugin did to the line, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adjustments: Vec<Applied>,
}

impl Line {
    /// Whether the plugin named `plugin` (`flash-sale`) adjusted this line.
    pub fn adjusted_by(&self, plugin: &str) -> bool {
        self.adjustments.iter().any(|a| a.source == plugin)
    }

    /// Whether the line is in category `category_id` (or below it).
    pub fn in_category(&self, category_id: i64) -> bool {
        self.category_ids.contains(&category_id)
    }
}

/// An adjustment an earlier step made: `source` is `script` (the pricing script) or the
/// plugin's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub source: String,
    pub label: String,
    pub amount_fen: i64,
}

/// What `quote` (and `checkout`) prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuoteInput {
    pub buyer: Buyer,
    pub lines: Vec<Line>,
    pub now_ms: i64,
    /// This plugin's settings from `plugins.toml`, checked against its schema.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub settings: Value,
    /// Adjustments to the whole order the steps before this plugin made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order_adjustments: Vec<Applied>,
    /// What the member chose for this plugin at checkout (`plugin_options.<name>` of the quote
    /// or order request: a coupon, points to spend); `null` when nothing. Untrusted input: a
    /// plugin checks it as it checks a route's body.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub options: Value,
}

impl QuoteInput {
    /// The cart's total so far: lines and order adjustments (never below 0).
    pub fn total_fen(&self) -> i64 {
        let lines: i64 = self
            .lines
            .iter()
            .map(|l| l.line_total_fen)
            .fold(0, i64::saturating_add);
        let order: i64 = self
            .order_adjustments
            .iter()
            .map(|a| a.amount_fen)
            .fold(0, i64::saturating_add);
        lines.saturating_add(order).max(0)
    }
}

/// A change to a price: to a line's total (`line_no`) or to the order (`None`). Negative is a
/// discount. The kernel refuses a line below zero, a sum that overflows and an unknown line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustment {
    #[serde(default)]
    pub line_no: Option<i64>,
    pub amount_fen: i64,
    /// What the member and staff read: 「限时抢购价」.
    pub label: String,
    /// The line is sold as final sale (清仓, REQUIREMENTS G3): after-sales refuses a return
    /// or exchange of it, saying this adjustment's label. Only with a `line_no`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub final_sale: bool,
}

impl Adjustment {
    pub fn line(line_no: i64, amount_fen: i64, label: impl Into<String>) -> Adjustment {
        Adjustment {
            line_no: Some(line_no),
            amount_fen,
            label: label.into(),
            final_sale: false,
        }
    }

    pub fn order(amount_fen: i64, label: impl Into<String>) -> Adjustment {
        Adjustment {
            line_no: None,
            amount_fen,
            label: label.into(),
            final_sale: false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteOutput {
    #[serde(default)]
    pub adjustments: Vec<Adjustment>,
    /// Lines given free (满赠): the kernel adds each as a line of its SKU at price 0 (its list
    /// price and an adjustment of the same amount labelled `label`), checked against the SKU's
    /// stock like any line, so the gift leaves the warehouse with the order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gifts: Vec<Gift>,
    /// What the member should know about the offer: 「再买 ¥120.00 减 ¥50.00」. Shown with the
    /// quote (cart, checkout), not kept with the order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What the member may choose for this plugin at checkout (a coupon from his coupons,
    /// points to spend): the checkout page draws each as a field, and what he picks comes
    /// back as `options.<name>` of the next quote and of the order. Kinds `select`, `number`
    /// and `checkbox` only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<crate::FormField>,
    /// `true` when this plugin's `checkout`, given the cart this quote priced, would reserve
    /// nothing and refuse nothing (no line on its offer, no coupon chosen): the kernel then
    /// does not call `checkout` for that order, so a cart without the plugin's offers costs
    /// the member one call instead of two. Leave it `false` when unsure; the kernel then asks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_checkout: bool,
}

/// A gift line (`QuoteOutput::gifts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gift {
    pub sku_id: i64,
    pub qty: i64,
    /// 「满赠」, 「满500赠手套1副」.
    pub label: String,
}

/// What `checkout` sees: the cart as this plugin's `quote` hook saw it (the kernel takes out
/// what this plugin and the steps after it added, and the gift lines, added after every
/// step), so a plugin recomputes exactly what it quoted; and the adjustments it gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckoutInput {
    #[serde(flatten)]
    pub quote: QuoteInput,
    #[serde(default)]
    pub adjustments: Vec<Adjustment>,
}

/// A bounded change to one of the plugin's counters, applied by the kernel inside the checkout
/// transaction: `counter(key) + delta` must stay within [`min`, `max`], or the order is refused
/// with `message` (code `limit_reached`). Recorded with the order, and sent back with its events
/// so the plugin can return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub key: String,
    pub delta: i64,
    #[serde(default)]
    pub min: i64,
    pub max: i64,
    /// Shown to the member when the bound is reached: 「每人限购2件」.
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutOutput {
    #[serde(default)]
    pub reservations: Vec<Reservation>,
}

/// A reservation as an order recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reserved {
    pub key: String,
    pub delta: i64,
}

/// An outbox event, after commit. Delivered at least once; `id` is its idempotency key (the
/// plugin's storage writes commit with the delivery record, so they happen once per id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: i64,
    /// `order.placed`, `order.closed`, `order.confirmed` …
    pub kind: String,
    #[serde(default)]
    pub order_id: Option<i64>,
    pub payload: Value,
    /// What this plugin reserved for the order at checkout.
    #[serde(default)]
    pub reservations: Vec<Reserved>,
    pub now_ms: i64,
    #[serde(default)]
    pub settings: Value,
}

/// Who calls a plugin route, as the kernel authenticated him.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    #[serde(default)]
    pub user_id: Option<i64>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Set when the caller is an approved member (with his pricing attributes).
    #[serde(default)]
    pub member: Option<Buyer>,
    /// Whether prices may be shown to him (REQUIREMENTS B2, the shop mode).
    #[serde(default)]
    pub sees_prices: bool,
}

/// A request to one of the plugin's declared routes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpRequest {
    pub method: String,
    /// The route as declared (`/sales/{id}`), and its parameters.
    pub route: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Value,
    pub caller: Caller,
    pub now_ms: i64,
    #[serde(default)]
    pub settings: Value,
}

/// The plugin's answer: a status and a JSON body; a plugin cannot set headers (the kernel sets
/// them all). The kernel refuses, as the plugin's failure (the client gets 503
/// `plugin_failed`), an answer over the output cap (`max_output_kib`), a status outside 200–299
/// and 400–599 (no 1xx, no 3xx: there is no `Location`), a body with 204 or 205, and a 4xx/5xx
/// whose body is not the kernel's error shape, `{"error": {"code", "message", "field"?}}`
/// (build it with [`HttpResponse::error`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpResponse {
    pub status: u16,
    /// `null` for no body (what 204 and 205 must have).
    #[serde(default)]
    pub body: Value,
}

impl HttpResponse {
    pub fn json(status: u16, body: impl Serialize) -> HttpResponse {
        HttpResponse {
            status,
            body: serde_json::to_value(body).unwrap_or(Value::Null),
        }
    }

    /// An error in the kernel's shape, naming the field where there is one.
    pub fn error(status: u16, code: &str, field: Option<&str>, message: &str) -> HttpResponse {
        let mut error = serde_json::json!({ "code": code, "message": message });
        if let (Some(field), Some(object)) = (field, error.as_object_mut()) {
            object.insert("field".to_owned(), Value::from(field));
        }
        HttpResponse {
            status,
            body: serde_json::json!({ "error": error }),
        }
    }
}

/// A page a plugin composes (the answer of a `mount`ed route): sections in order, drawn by
/// the active theme's `sections/<kind>.html` templates, and colours over the theme's own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PageLayout {
    /// The page's title (the browser tab, the header); empty for the shop's name.
    #[serde(default)]
    pub title: String,
    /// Theme colour name → `#rrggbb`, over the theme's (`primary`, `price` …); a name the
    /// theme does not have, or a value that is not a colour, is left out.
    #[serde(default)]
    pub colors: BTreeMap<String, String>,
    pub sections: Vec<Section>,
    /// A draft staff are looking at (the editor's preview): the page says so, and the back
    /// office may show it in a frame. Only for routes staff alone may call.
    #[serde(default)]
    pub draft: bool,
}

/// One block of a page: its type (one of [`SectionTypes`]) and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub kind: String,
    #[serde(default)]
    pub settings: Value,
}

/// What `pages.section-types` answers: the active theme's section types and colour names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SectionTypes {
    /// The theme's colour names with their values (the defaults a page may override).
    #[serde(default)]
    pub colors: BTreeMap<String, String>,
    pub sections: Vec<SectionType>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionType {
    pub kind: String,
    /// What the owner reads (轮播图, 商品列表).
    pub label: String,
    /// Setting name → its schema as the theme declares it (`type`, `label`, `default`, and
    /// `min`/`max`, `max_chars`, `choices`, `max_items`, `fields` by type).
    pub settings: BTreeMap<String, Value>,
    /// The order the editor shows the settings in.
    #[serde(default)]
    pub order: Vec<String>,
}

/// A setting `pages.check-section` refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// The body a `picture` route is called with: the stored image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Picture {
    /// Where it is served (`/api/v1/images/<key>`): what a section's image setting holds.
    pub url: String,
}

/// A product as `catalog-read` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub item_no: String,
    pub on_shelf: bool,
    pub skus: Vec<Sku>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sku {
    pub id: i64,
    pub model: String,
    pub spec: String,
    pub price_fen: i64,
    pub stock: i64,
}

/// A hook's failure: a stable code and a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookError {
    pub code: String,
    pub message: String,
}

impl HookError {
    pub fn new(code: &str, message: impl Into<String>) -> HookError {
        HookError {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_and_capabilities_round_trip_by_their_wit_names() {
        for hook in Hook::ALL {
            assert_eq!(Hook::parse(hook.as_str()), Some(hook));
            assert_eq!(
                serde_json::to_value(hook).ok(),
                Some(Value::from(hook.as_str()))
            );
        }
        for capability in Capability::ALL {
            assert_eq!(Capability::parse(capability.as_str()), Some(capability));
        }
    }

    #[test]
    fn unknown_fields_from_a_newer_kernel_are_ignored() {
        let input: Result<QuoteInput, _> = serde_json::from_str(
            r#"{"buyer":{"member_id":1,"future":true},"lines":[],"now_ms":0,"new_field":[1]}"#,
        );
        assert!(input.is_ok());
    }
}
