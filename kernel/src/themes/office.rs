//! The back office's pages (`/admin`, at a desk: keyboard, mouse, wide tables) and what each
//! is given. They are drawn by an office theme (`kind = "office"` in its `theme.toml`,
//! `themes/office/`), checked like a storefront theme against the samples here before it
//! serves, so the office's words and look are templates too; the shop's choice of
//! storefront theme never changes them.

pub mod decoration;
pub mod goods;
pub mod jobs;
pub mod setup;

use serde::Serialize;

use super::views::{ErrorView, FormError, PageView, sample_member};
use crate::accounts::MemberState;
use crate::accounts::audit::{LoginEntry, OperationEntry};
use crate::backup::BackupFile;
use crate::members::Level;
use crate::members::review::MemberView;
use crate::notify::MessageView;
use crate::orders::OrderStatus;
use crate::orders::after_sales::AfterSale;
use crate::orders::queries::StatusCount;
use crate::orders::record::OrderView;
use crate::plugins::http::PluginsStatus;
use crate::regions::Region;
use crate::scripts::admin::ScriptVersion;
use crate::scripts::replay::Replay;

/// One entry of the office's menu: the theme's word for it (`orders` → 订单) and where it
/// goes. The menu is what the caller's permissions open (`pages::office::MENU`).
#[derive(Debug, Clone, Serialize)]
pub struct MenuEntry {
    pub key: &'static str,
    pub href: &'static str,
}

/// `dashboard.html`: the office's first page — what waits, by order status.
#[derive(Debug, Clone, Serialize)]
pub struct DashboardView {
    pub menu: Vec<MenuEntry>,
    /// Every status in the caller's scope with its staff label and count; empty for a role
    /// that reads no orders.
    pub order_counts: Vec<StatusCount>,
    /// The caller's long work, running and of the last hour, newest first.
    pub jobs: Vec<jobs::JobLine>,
}

/// `scripts.html`: one rules file in the editor (M4) — the source, whether it serves, the
/// check's refusal at its line, a replay of the last orders, and the saved versions.
#[derive(Debug, Clone, Serialize)]
pub struct ScriptsView {
    pub menu: Vec<MenuEntry>,
    /// `pricing` or `notifications`.
    pub rules: &'static str,
    /// `pricing.rhai` or `notifications.rhai`.
    pub file: &'static str,
    /// As on disk, or as typed when the form comes back.
    pub source: String,
    /// The version serving (12 hex digits), none when no script serves.
    pub serving_version: Option<String>,
    /// Why the file on disk is not serving (the previous version is), if it is not.
    pub load_error: Option<String>,
    /// Why the typed source was refused, at its line.
    pub problem: Option<ScriptProblem>,
    /// The typed source passed the check (its version), when it was checked.
    pub checked_version: Option<String>,
    /// The last orders priced with the typed source beside the serving one (pricing only).
    pub replay: Option<Replay>,
    /// A cart priced with the serving script and with the typed draft (pricing only).
    pub preview: Option<CartPreview>,
    /// The preview's member (his phone) and goods (`code quantity` a line), as typed.
    pub preview_phone: String,
    pub preview_lines: String,
    /// Why the preview could not price the cart (the quote's refusal).
    pub preview_error: Option<FormError>,
    /// How many orders a replay reads.
    pub last: i64,
    /// The note for the history, as typed.
    pub note: String,
    /// The saved versions, newest first, with their diffs.
    pub history: Vec<ScriptVersion>,
}

/// One cart priced by the serving rules and by the draft, through the whole quote (the
/// plugins after the script, as at checkout).
#[derive(Debug, Clone, Serialize)]
pub struct CartPreview {
    pub lines: Vec<PreviewLine>,
    pub current_goods_fen: i64,
    pub draft_goods_fen: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PreviewLine {
    pub item_no: String,
    pub name: String,
    pub spec: String,
    pub qty: i64,
    pub current_fen: i64,
    pub draft_fen: i64,
    /// The draft's adjustments of the line (the script's and the plugins').
    pub draft_adjustments: Vec<crate::orders::quote::Adjustment>,
}

impl CartPreview {
    pub fn of(preview: &crate::scripts::admin::Preview) -> CartPreview {
        CartPreview {
            lines: preview
                .current
                .lines
                .iter()
                .zip(&preview.draft.lines)
                .map(|(current, draft)| PreviewLine {
                    item_no: current.item_no.clone(),
                    name: current.name.clone(),
                    spec: current.spec.clone(),
                    qty: current.qty,
                    current_fen: current.line_total_fen,
                    draft_fen: draft.line_total_fen,
                    draft_adjustments: draft.adjustments.clone(),
                })
                .collect(),
            current_goods_fen: preview.current.goods_fen,
            draft_goods_fen: preview.draft.goods_fen,
        }
    }
}

/// A refusal of a script, at the place Rhai names, with the lines around it.
#[derive(Debug, Clone, Serialize)]
pub struct ScriptProblem {
    /// The whole reason, starting with `pricing.rhai:LINE:COLUMN`.
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Up to two lines each side of `line`.
    pub excerpt: Vec<SourceLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceLine {
    pub number: usize,
    pub text: String,
    /// The line the refusal names.
    pub at: bool,
}

impl ScriptProblem {
    /// `message` about `source`, with the lines around `line`.
    pub fn new(
        message: String,
        line: Option<usize>,
        column: Option<usize>,
        source: &str,
    ) -> ScriptProblem {
        let excerpt = line
            .map(|at| {
                source
                    .lines()
                    .enumerate()
                    .map(|(i, text)| (i + 1, text))
                    .filter(|(number, _)| number.abs_diff(at) <= 2)
                    .map(|(number, text)| SourceLine {
                        number,
                        text: text.to_owned(),
                        at: number == at,
                    })
                    .collect()
            })
            .unwrap_or_default();
        ScriptProblem {
            message,
            line,
            column,
            excerpt,
        }
    }
}

/// `orders.html`: every order in the caller's scope, searched and filtered, to open, export
/// and print.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeOrdersView {
    pub menu: Vec<MenuEntry>,
    /// The filters as given: `q` (number, member, shop, phone, PO), `status`, `from`, `to`.
    pub q: String,
    pub status: Option<OrderStatus>,
    pub from: String,
    pub to: String,
    /// Every status with its staff label and count, for the status filter.
    pub statuses: Vec<StatusCount>,
    /// The page of orders, newest first.
    pub orders: Vec<OrderView>,
    /// How many orders match in all.
    pub total: i64,
    /// The link to this page after and before (none at either end).
    pub next_href: Option<String>,
    pub previous_href: Option<String>,
    /// The regions whose picking list the caller may print (a form to
    /// `/api/v1/admin/picking-list` with `region_id` and `date`), and the shop's date.
    pub regions: Vec<Region>,
    pub today: String,
}

/// `members.html`: the members in the caller's scope by state (those waiting for review
/// first), with the forms to approve (region, level) or reject (a reason) for those who may.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeMembersView {
    pub menu: Vec<MenuEntry>,
    /// The state listed (`profile_complete` …), none for every state.
    pub state: Option<MemberState>,
    pub members: Vec<MemberView>,
    pub total: i64,
    pub next_href: Option<String>,
    pub previous_href: Option<String>,
    /// Whether the caller may approve and reject (`review::may_review`: a manager his own
    /// customers); a promoter only reads.
    pub may_review: bool,
    pub levels: Vec<Level>,
    pub regions: Vec<Region>,
    /// A refused approval or rejection: `form` is `approve` or `reject`, for the member `id`.
    pub error: Option<RowError>,
}

/// `member.html`: one member as the office sees him — his profile, level, region, who serves
/// him and since when, his tags and credit — with the forms to change level, tags and credit
/// for those who review members.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeMemberView {
    pub menu: Vec<MenuEntry>,
    pub member: MemberView,
    pub levels: Vec<Level>,
    pub regions: Vec<Region>,
    /// Every member tag, and his.
    pub tags: Vec<crate::members::relations::Tag>,
    pub member_tags: Vec<i64>,
    /// Who served him when, newest first.
    pub history: Vec<crate::members::relations::HistoryLine>,
    /// The names of the people the page mentions (his manager, promoter, who moved him).
    pub people: Vec<setup::Choice>,
    pub may_review: bool,
    /// A refused form: `level`, `tags`, `credit` or `tag`.
    pub error: Option<FormError>,
    pub typed: std::collections::BTreeMap<String, String>,
}

/// A form refused on one row of a list (a member, an after-sales request): its `id`, and the
/// form's refusal beside it.
#[derive(Debug, Clone, Serialize)]
pub struct RowError {
    pub id: i64,
    #[serde(flatten)]
    pub error: FormError,
}

/// `after_sales.html`: the after-sales requests in a status (待审核 first) of the orders the
/// caller may decide on, with 同意 / 拒绝 and, for those who settle orders, 退款.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeAfterSalesView {
    pub menu: Vec<MenuEntry>,
    /// `requested`, `approved`, `rejected`, `collected` or `refunded`.
    pub status: &'static str,
    pub requests: Vec<AfterSale>,
    pub may_refund: bool,
    /// A refused decision or refund: `form` `decide` or `refund`, for the request `id`.
    pub error: Option<RowError>,
}

/// `messages.html`: the outgoing messages (SMS, WeChat, e-mail, inbox) by state, newest
/// first, with 重新发送 for those who may send.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeMessagesView {
    pub menu: Vec<MenuEntry>,
    /// The state listed (`dead`, `failed` …), none for every state.
    pub state: Option<String>,
    pub messages: Vec<MessageView>,
    pub total: i64,
    pub next_href: Option<String>,
    pub previous_href: Option<String>,
    pub may_send: bool,
}

/// `plugins.html`: the plugins serving, as `GET /api/v1/admin/plugins` reports them, each
/// with its settings as a form drawn from its schema and, when suspended, 恢复运行.
#[derive(Debug, Serialize)]
pub struct OfficePluginsView {
    pub menu: Vec<MenuEntry>,
    pub status: PluginsStatus,
    /// Each serving plugin's settings form, by its name.
    pub settings: std::collections::BTreeMap<String, Vec<SettingField>>,
    /// A refused settings form: the plugin, its refusal, and the fields as typed.
    pub error: Option<PluginRefusal>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PluginRefusal {
    pub plugin: String,
    #[serde(flatten)]
    pub error: FormError,
    pub typed: std::collections::BTreeMap<String, String>,
}

/// One setting of a plugin as a form field, drawn from the JSON schema its manifest
/// declares: the property's name, its title and description, what kind of field it takes
/// and its value now.
#[derive(Debug, Clone, Serialize)]
pub struct SettingField {
    pub name: String,
    pub title: String,
    pub description: String,
    /// `text`, `integer`, `number`, `boolean`, `choice` (an `enum`) or `json` (anything
    /// else: typed as JSON).
    pub kind: &'static str,
    /// As the field shows it (`true` or empty for a boolean; pretty JSON for `json`).
    pub value: String,
    pub choices: Vec<String>,
    pub required: bool,
    pub max_length: Option<u64>,
}

impl SettingField {
    /// The fields of `settings` as `schema` describes them: one per property of an object
    /// schema, in its order; without a schema, one per setting there is, by its value.
    pub fn of(
        schema: Option<&serde_json::Value>,
        settings: &serde_json::Value,
    ) -> Vec<SettingField> {
        use serde_json::Value;
        let empty = serde_json::Map::new();
        let properties = schema
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object);
        let required: Vec<&str> = schema
            .and_then(|s| s.get("required"))
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let current = settings.as_object().unwrap_or(&empty);
        let described: Vec<(String, Value)> = match properties {
            Some(properties) => properties
                .iter()
                .map(|(name, property)| (name.clone(), property.clone()))
                .collect(),
            None => current
                .iter()
                .map(|(name, value)| {
                    let kind = match value {
                        Value::String(_) => "string",
                        Value::Bool(_) => "boolean",
                        Value::Number(n) if n.is_i64() => "integer",
                        Value::Number(_) => "number",
                        _ => "object",
                    };
                    (name.clone(), serde_json::json!({ "type": kind }))
                })
                .collect(),
        };
        described
            .into_iter()
            .map(|(name, property)| {
                let value = current
                    .get(&name)
                    .or_else(|| property.get("default"))
                    .cloned()
                    .unwrap_or(Value::Null);
                let choices: Vec<String> = property
                    .get("enum")
                    .and_then(Value::as_array)
                    .map(|e| {
                        e.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                let kind = match property.get("type").and_then(Value::as_str) {
                    _ if !choices.is_empty() => "choice",
                    Some("string") => "text",
                    Some("integer") => "integer",
                    Some("number") => "number",
                    Some("boolean") => "boolean",
                    _ => "json",
                };
                let shown = match (&value, kind) {
                    (Value::Null, _) => String::new(),
                    (Value::Bool(true), "boolean") => "true".to_owned(),
                    (Value::Bool(false), "boolean") => String::new(),
                    (Value::String(s), "text" | "choice") => s.clone(),
                    (Value::Number(n), "integer" | "number") => n.to_string(),
                    (other, _) => serde_json::to_string_pretty(other).unwrap_or_default(),
                };
                SettingField {
                    title: property
                        .get("title")
                        .and_then(Value::as_str)
                        .unwrap_or(&name)
                        .to_owned(),
                    description: property
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    kind,
                    value: shown,
                    choices,
                    required: required.contains(&name.as_str()),
                    max_length: property.get("maxLength").and_then(Value::as_u64),
                    name,
                }
            })
            .collect()
    }
}

/// `audit.html`: the operation log or the sign-in log, newest first.
#[derive(Debug, Serialize)]
pub struct OfficeAuditView {
    pub menu: Vec<MenuEntry>,
    /// `operations` or `logins`.
    pub kind: &'static str,
    pub operations: Vec<OperationEntry>,
    pub logins: Vec<LoginEntry>,
    pub total: i64,
    pub next_href: Option<String>,
    pub previous_href: Option<String>,
}

/// `backups.html`: the backups on disk, to make, download and restore (a restore asks for
/// the backup's name typed again).
#[derive(Debug, Serialize)]
pub struct OfficeBackupsView {
    pub menu: Vec<MenuEntry>,
    pub backups: Vec<BackupFile>,
    /// A refused restore: the backup's name and the API's code.
    pub error: Option<BackupError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupError {
    pub name: String,
    pub code: String,
}

/// The office's pages; `error.html` is the storefront's `ErrorView`, drawn by the office.
pub const PAGE_TEMPLATES: [&str; 20] = [
    decoration::OfficeDecorationView::TEMPLATE,
    super::screens::OfficeScreenView::TEMPLATE,
    jobs::OfficeJobView::TEMPLATE,
    OfficeMemberView::TEMPLATE,
    goods::OfficeLibraryView::TEMPLATE,
    setup::OfficeSettingsView::TEMPLATE,
    setup::OfficeStaffView::TEMPLATE,
    setup::OfficeRegionsView::TEMPLATE,
    goods::OfficeGoodsView::TEMPLATE,
    goods::OfficeProductView::TEMPLATE,
    OfficeAfterSalesView::TEMPLATE,
    OfficePluginsView::TEMPLATE,
    OfficeAuditView::TEMPLATE,
    OfficeBackupsView::TEMPLATE,
    DashboardView::TEMPLATE,
    ScriptsView::TEMPLATE,
    OfficeOrdersView::TEMPLATE,
    OfficeMembersView::TEMPLATE,
    OfficeMessagesView::TEMPLATE,
    ErrorView::TEMPLATE,
];

/// The menu the samples are drawn with.
pub(crate) fn sample_menu() -> Vec<MenuEntry> {
    vec![
        MenuEntry {
            key: "dashboard",
            href: "/admin",
        },
        MenuEntry {
            key: "orders",
            href: "/admin/orders",
        },
        MenuEntry {
            key: "pricing_script",
            href: "/admin/scripts/pricing",
        },
    ]
}

fn sample_counts() -> Vec<StatusCount> {
    OrderStatus::ALL
        .into_iter()
        .map(|status| StatusCount {
            status,
            label: status.label(crate::orders::Audience::Business).to_owned(),
            count: 4,
        })
        .collect()
}

impl PageView for DashboardView {
    const TEMPLATE: &'static str = "dashboard.html";
    fn samples() -> Vec<(&'static str, DashboardView)> {
        vec![
            (
                "an admin",
                DashboardView {
                    menu: sample_menu(),
                    order_counts: sample_counts(),
                    jobs: vec![
                        jobs::JobLine {
                            id: "0123456789abcdef0123456789abcdef".to_owned(),
                            kind: "import",
                            state: "running",
                            started_at: "2026-12-07T10:00:00+08:00".to_owned(),
                            percent: Some(41),
                        },
                        jobs::JobLine {
                            id: "fedcba9876543210fedcba9876543210".to_owned(),
                            kind: "backup",
                            state: "failed",
                            started_at: "2026-12-07T09:00:00+08:00".to_owned(),
                            percent: None,
                        },
                    ],
                },
            ),
            (
                "a role without orders",
                DashboardView {
                    menu: sample_menu().into_iter().take(1).collect(),
                    order_counts: Vec::new(),
                    jobs: Vec::new(),
                },
            ),
        ]
    }
}

fn sample_replay() -> Replay {
    use crate::scripts::replay::{ReplaySummary, ReplayedLine, ReplayedOrder};
    let adjustment = |amount_fen| crate::orders::quote::Adjustment {
        source: "script".to_owned(),
        label: "三亚加价 <b>".to_owned(),
        amount_fen,
        final_sale: false,
    };
    Replay {
        summary: ReplaySummary {
            orders_checked: 100,
            orders_changed: 1,
            orders_failed: 1,
            total_difference_fen: 1331,
            current_version: None,
            draft_version: "ba9876543210".to_owned(),
        },
        orders: vec![
            ReplayedOrder {
                order_id: crate::ids::OrderId(7),
                order_no: "PF20261130000007".to_owned(),
                placed_at: "2026-11-30T09:00:00+08:00".to_owned(),
                member_id: 3,
                member_name: "赵老板 <i>".to_owned(),
                region: "三亚".to_owned(),
                priced_with: Some("0123456789ab".to_owned()),
                current_total_fen: Some(26_610),
                draft_total_fen: Some(27_941),
                difference_fen: 1331,
                lines: vec![ReplayedLine {
                    line_no: 1,
                    sku_id: 3,
                    item_no: "AQM-001".to_owned(),
                    name: "安全帽 <b>".to_owned(),
                    qty: 10,
                    unit_price_fen: 2661,
                    catalogue_fen: 26_610,
                    current_fen: 26_610,
                    draft_fen: 27_941,
                    difference_fen: 1331,
                    current_adjustments: Vec::new(),
                    draft_adjustments: vec![adjustment(1331)],
                }],
                error: None,
            },
            ReplayedOrder {
                order_id: crate::ids::OrderId(6),
                order_no: "PF20261130000006".to_owned(),
                placed_at: "2026-11-30T08:00:00+08:00".to_owned(),
                member_id: 4,
                member_name: "钱老板".to_owned(),
                region: "海口".to_owned(),
                priced_with: None,
                current_total_fen: Some(1000),
                draft_total_fen: None,
                difference_fen: 0,
                lines: Vec::new(),
                error: Some("draft: pricing.rhai:3:9: <i>".to_owned()),
            },
        ],
    }
}

impl PageView for ScriptsView {
    const TEMPLATE: &'static str = "scripts.html";
    fn samples() -> Vec<(&'static str, ScriptsView)> {
        let source = "fn adjust(line, member, now) {\n    [#{ amount_fen: -100, label: \"<b>让利</b>\" }]\n}\n".to_owned();
        let plain = ScriptsView {
            menu: sample_menu(),
            rules: "pricing",
            file: "pricing.rhai",
            source: source.clone(),
            serving_version: Some("0123456789ab".to_owned()),
            load_error: None,
            problem: None,
            checked_version: None,
            replay: None,
            preview: None,
            preview_phone: String::new(),
            preview_lines: String::new(),
            preview_error: None,
            last: 100,
            note: String::new(),
            history: vec![ScriptVersion {
                id: 3,
                file: "pricing.rhai".to_owned(),
                author_id: Some(1),
                note: "三亚加价 <i>".to_owned(),
                diff: "--- pricing.rhai (before)\n+++ pricing.rhai (after)\n@@ -1 +1 @@\n-a\n+b\n"
                    .to_owned(),
                source: String::new(),
                created_at: 0,
                at: "2026-11-30T09:00:00+08:00".to_owned(),
            }],
        };
        let replay = sample_replay();
        vec![
            ("the file as it serves", plain.clone()),
            (
                "a refusal at a line",
                ScriptsView {
                    problem: Some(ScriptProblem::new(
                        "pricing.rhai:2:5: Expecting ';' <b>".to_owned(),
                        Some(2),
                        Some(5),
                        &source,
                    )),
                    load_error: Some("pricing.rhai:1:1: <i>".to_owned()),
                    serving_version: None,
                    history: Vec::new(),
                    ..plain.clone()
                },
            ),
            (
                "a checked draft and its replay",
                ScriptsView {
                    checked_version: Some("ba9876543210".to_owned()),
                    replay: Some(replay),
                    note: "备注 <i>".to_owned(),
                    ..plain.clone()
                },
            ),
            (
                "a cart previewed with the draft",
                ScriptsView {
                    preview: Some(CartPreview {
                        lines: vec![PreviewLine {
                            item_no: "AQM-001 <b>".to_owned(),
                            name: "安全帽 <i>".to_owned(),
                            spec: "红色".to_owned(),
                            qty: 60,
                            current_fen: 168_000,
                            draft_fen: 166_320,
                            draft_adjustments: vec![crate::orders::quote::Adjustment {
                                source: "script".to_owned(),
                                label: "大单优惠1% <b>".to_owned(),
                                amount_fen: -1_680,
                                final_sale: false,
                            }],
                        }],
                        current_goods_fen: 168_000,
                        draft_goods_fen: 166_320,
                    }),
                    preview_phone: "13900000001".to_owned(),
                    preview_lines: "6901234500011 60".to_owned(),
                    ..plain.clone()
                },
            ),
            (
                "a preview refused",
                ScriptsView {
                    preview_phone: "139 <b>".to_owned(),
                    preview_lines: "x 1".to_owned(),
                    preview_error: Some(FormError {
                        form: "preview",
                        code: "unknown_member".to_owned(),
                        field: Some("preview_phone".to_owned()),
                    }),
                    ..plain.clone()
                },
            ),
            (
                "the notification rules",
                ScriptsView {
                    rules: "notifications",
                    file: "notifications.rhai",
                    ..plain
                },
            ),
        ]
    }
}

impl PageView for OfficeOrdersView {
    const TEMPLATE: &'static str = "orders.html";
    fn samples() -> Vec<(&'static str, OfficeOrdersView)> {
        let orders = super::views::sample_orders(OrderStatus::ALL.len());
        vec![
            (
                "a page of every status",
                OfficeOrdersView {
                    menu: sample_menu(),
                    q: "海口 <i>".to_owned(),
                    status: Some(OrderStatus::PendingConfirmation),
                    from: "2026-11-01".to_owned(),
                    to: "2026-11-30".to_owned(),
                    statuses: sample_counts(),
                    total: 120,
                    orders,
                    next_href: Some("/admin/orders?offset=50".to_owned()),
                    previous_href: Some("/admin/orders?offset=0".to_owned()),
                    regions: vec![Region {
                        id: 1,
                        name: "海口 <i>".to_owned(),
                    }],
                    today: "2026-11-30".to_owned(),
                },
            ),
            (
                "nothing found",
                OfficeOrdersView {
                    menu: sample_menu(),
                    q: String::new(),
                    status: None,
                    from: String::new(),
                    to: String::new(),
                    statuses: sample_counts(),
                    total: 0,
                    orders: Vec::new(),
                    next_href: None,
                    previous_href: None,
                    regions: Vec::new(),
                    today: "2026-11-30".to_owned(),
                },
            ),
        ]
    }
}

impl PageView for OfficeMembersView {
    const TEMPLATE: &'static str = "members.html";
    fn samples() -> Vec<(&'static str, OfficeMembersView)> {
        let full = OfficeMembersView {
            menu: sample_menu(),
            state: Some(MemberState::ProfileComplete),
            members: vec![
                sample_member(1, MemberState::ProfileComplete),
                sample_member(2, MemberState::Approved),
                sample_member(3, MemberState::Rejected),
                sample_member(4, MemberState::Authorised),
            ],
            total: 80,
            next_href: Some("/admin/members?offset=50".to_owned()),
            previous_href: None,
            may_review: true,
            levels: vec![Level {
                id: 1,
                name: "普通会员 <i>".to_owned(),
                rank: 1,
                is_default: true,
            }],
            regions: vec![Region {
                id: 1,
                name: "海口".to_owned(),
            }],
            error: Some(RowError {
                id: 1,
                error: FormError {
                    form: "approve",
                    code: "invalid_state".to_owned(),
                    field: Some("region_id".to_owned()),
                },
            }),
        };
        vec![
            ("a reviewer's queue", full.clone()),
            (
                "a manager's empty list",
                OfficeMembersView {
                    state: None,
                    members: Vec::new(),
                    total: 0,
                    next_href: None,
                    may_review: false,
                    error: None,
                    ..full
                },
            ),
        ]
    }
}

impl PageView for OfficeMemberView {
    const TEMPLATE: &'static str = "member.html";
    fn samples() -> Vec<(&'static str, OfficeMemberView)> {
        use crate::members::relations::{BindingChange, HistoryLine, Tag};
        let full = OfficeMemberView {
            menu: sample_menu(),
            member: sample_member(7, MemberState::Approved),
            levels: vec![Level {
                id: 1,
                name: "金牌 <i>".to_owned(),
                rank: 3,
                is_default: false,
            }],
            regions: vec![Region {
                id: 1,
                name: "海口 <b>".to_owned(),
            }],
            tags: vec![Tag {
                id: 1,
                name: "大客户 <b>".to_owned(),
            }],
            member_tags: vec![1],
            history: vec![HistoryLine {
                change: BindingChange {
                    id: 1,
                    subject_kind: "member".to_owned(),
                    subject_id: 7,
                    role: "manager".to_owned(),
                    from_user: None,
                    to_user: Some(3),
                    reason: "邀请码 <i>".to_owned(),
                    by_user: Some(1),
                    at: 0,
                },
                at: "2026-11-30T09:00:00+08:00".to_owned(),
            }],
            people: vec![setup::Choice {
                id: 3,
                name: "陈经理 <b>".to_owned(),
            }],
            may_review: true,
            error: Some(FormError {
                form: "credit",
                code: "invalid_money".to_owned(),
                field: Some("limit".to_owned()),
            }),
            typed: std::collections::BTreeMap::from([("limit".to_owned(), "很多 <b>".to_owned())]),
        };
        vec![
            ("a member, a refused credit", full.clone()),
            (
                "a manager reads a member waiting for review",
                OfficeMemberView {
                    member: sample_member(8, MemberState::ProfileComplete),
                    history: Vec::new(),
                    member_tags: Vec::new(),
                    may_review: false,
                    error: None,
                    typed: std::collections::BTreeMap::new(),
                    ..full
                },
            ),
        ]
    }
}

impl PageView for OfficeMessagesView {
    const TEMPLATE: &'static str = "messages.html";
    fn samples() -> Vec<(&'static str, OfficeMessagesView)> {
        let message = |id: i64, state: &str| MessageView {
            id,
            channel: "sms".to_owned(),
            recipient: "13900000001".to_owned(),
            user_id: Some(3),
            template: "SMS_1 <i>".to_owned(),
            params: serde_json::json!({ "number": "<b>1</b>" }),
            body: "您的订单已发货 <b>".to_owned(),
            state: state.to_owned(),
            attempts: 3,
            last_error: Some("isv.BUSINESS_LIMIT_CONTROL <i>".to_owned()),
            next_attempt_at: Some("2026-11-30T09:05:00+08:00".to_owned()),
            event_id: Some(9),
            provider_ref: None,
            read: false,
            created_at: "2026-11-30T09:00:00+08:00".to_owned(),
            sent_at: None,
        };
        let full = OfficeMessagesView {
            menu: sample_menu(),
            state: Some("dead".to_owned()),
            messages: ["pending", "sending", "sent", "failed", "dead"]
                .into_iter()
                .zip(1..)
                .map(|(state, id)| message(id, state))
                .collect(),
            total: 5,
            next_href: None,
            previous_href: Some("/admin/messages".to_owned()),
            may_send: true,
        };
        vec![
            ("every state", full.clone()),
            (
                "none, and no retry",
                OfficeMessagesView {
                    state: None,
                    messages: Vec::new(),
                    total: 0,
                    previous_href: None,
                    may_send: false,
                    ..full
                },
            ),
        ]
    }
}

fn sample_settings_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "label": { "type": "string", "title": "标签 <i>", "maxLength": 20, "description": "会员看到的 <b>" },
            "limit": { "type": "integer" },
            "rate": { "type": "number" },
            "on": { "type": "boolean", "default": true },
            "mode": { "type": "string", "enum": ["a", "b <i>"] },
            "tiers": { "type": "array" }
        },
        "required": ["label"]
    })
}

impl PageView for OfficePluginsView {
    const TEMPLATE: &'static str = "plugins.html";
    fn samples() -> Vec<(&'static str, OfficePluginsView)> {
        use crate::plugins::http::{
            EventRetry, GrantsView, PluginStatus, PluginStorage, RefusedPlugin,
        };
        let plugin = |suspended: bool| PluginStatus {
            name: "flash-sale <i>".to_owned(),
            version: "0.1.0".to_owned(),
            hooks: vec!["quote".to_owned(), "on-event".to_owned()],
            capabilities: vec!["kv".to_owned()],
            routes: vec!["GET /storefront".to_owned()],
            calls: 1200,
            failures: 3,
            fuel_p50: 12_000,
            fuel_p99: 40_000,
            wall_ms_p50: 0.4,
            wall_ms_p99: 2.5,
            busy: 0,
            concurrent_calls: 8,
            suspended_until: suspended.then(|| "2026-11-30T09:05:00+08:00".to_owned()),
            last_error: if suspended {
                "out of fuel <b>".to_owned()
            } else {
                String::new()
            },
            grants: GrantsView {
                events: vec!["order.placed".to_owned()],
                data: vec!["catalog".to_owned()],
                route_roles: vec!["member".to_owned()],
                notify_to: Vec::new(),
            },
            events_dead: u64::from(suspended),
            event_retry: suspended.then(|| EventRetry {
                event_id: 4,
                attempts: 2,
                next_attempt_at: "2026-11-30T09:05:00+08:00".to_owned(),
                last_error: "trap <i>".to_owned(),
            }),
            storage: PluginStorage {
                keys: 10,
                bytes: 2048,
                keys_quota: 10_000,
                bytes_quota: 1_048_576,
            },
            settings: serde_json::json!({ "label": "限时抢购价 <b>" }),
            settings_schema: Some(sample_settings_schema()),
        };
        let fields = SettingField::of(
            Some(&sample_settings_schema()),
            &serde_json::json!({ "label": "限时抢购价 <b>", "limit": 3, "tiers": [1, 2] }),
        );
        vec![
            (
                "one serving, one suspended, one refused",
                OfficePluginsView {
                    menu: sample_menu(),
                    status: PluginsStatus {
                        plugins: vec![plugin(false), plugin(true)],
                        refused: vec![RefusedPlugin {
                            name: "coupons".to_owned(),
                            kind: "wasm".to_owned(),
                            reason: "no such file <i>".to_owned(),
                        }],
                        reload_error: Some("plugins.toml:3: <b>".to_owned()),
                    },
                    settings: std::collections::BTreeMap::from([(
                        "flash-sale <i>".to_owned(),
                        fields,
                    )]),
                    error: Some(PluginRefusal {
                        plugin: "flash-sale <i>".to_owned(),
                        error: FormError {
                            form: "settings",
                            code: "invalid_plugin_settings".to_owned(),
                            field: Some("settings.label".to_owned()),
                        },
                        typed: std::collections::BTreeMap::from([(
                            "label".to_owned(),
                            "太长 <b>".to_owned(),
                        )]),
                    }),
                },
            ),
            (
                "none installed",
                OfficePluginsView {
                    menu: sample_menu(),
                    status: PluginsStatus {
                        plugins: Vec::new(),
                        refused: Vec::new(),
                        reload_error: None,
                    },
                    settings: std::collections::BTreeMap::new(),
                    error: None,
                },
            ),
        ]
    }
}

impl PageView for OfficeAuditView {
    const TEMPLATE: &'static str = "audit.html";
    fn samples() -> Vec<(&'static str, OfficeAuditView)> {
        let operations = || OfficeAuditView {
            menu: sample_menu(),
            kind: "operations",
            operations: vec![OperationEntry {
                id: 1,
                actor_id: Some(1),
                action: "member.approve".to_owned(),
                target_kind: "member".to_owned(),
                target_id: Some("7".to_owned()),
                detail: serde_json::json!({ "region_id": 1, "note": "<b>" }),
                ip: Some("127.0.0.1".to_owned()),
                at: "2026-11-30T09:00:00+08:00".to_owned(),
            }],
            logins: Vec::new(),
            total: 120,
            next_href: Some("/admin/audit?offset=50".to_owned()),
            previous_href: None,
        };
        vec![
            ("the operations", operations()),
            (
                "the sign-ins",
                OfficeAuditView {
                    kind: "logins",
                    operations: Vec::new(),
                    logins: vec![
                        LoginEntry {
                            id: 1,
                            user_id: Some(1),
                            identifier: "138****0001".to_owned(),
                            method: "password".to_owned(),
                            success: true,
                            reason: None,
                            ip: None,
                            at: "2026-11-30T09:00:00+08:00".to_owned(),
                        },
                        LoginEntry {
                            id: 2,
                            user_id: None,
                            identifier: "139****0009".to_owned(),
                            method: "code".to_owned(),
                            success: false,
                            reason: Some("invalid_credentials".to_owned()),
                            ip: Some("10.0.0.1".to_owned()),
                            at: "2026-11-30T09:01:00+08:00".to_owned(),
                        },
                    ],
                    total: 2,
                    next_href: None,
                    previous_href: Some("/admin/audit?kind=logins".to_owned()),
                    ..operations()
                },
            ),
            (
                "nothing recorded",
                OfficeAuditView {
                    operations: Vec::new(),
                    total: 0,
                    next_href: None,
                    ..operations()
                },
            ),
        ]
    }
}

impl PageView for OfficeBackupsView {
    const TEMPLATE: &'static str = "backups.html";
    fn samples() -> Vec<(&'static str, OfficeBackupsView)> {
        vec![
            (
                "two backups and a refused restore",
                OfficeBackupsView {
                    menu: sample_menu(),
                    backups: vec![
                        BackupFile {
                            name: "pifa-20261130-090000.jsonl.gz".to_owned(),
                            size_bytes: 123_456,
                        },
                        BackupFile {
                            name: "pifa-20261129-090000.jsonl.gz.age".to_owned(),
                            size_bytes: 99,
                        },
                    ],
                    error: Some(BackupError {
                        name: "pifa-20261130-090000.jsonl.gz".to_owned(),
                        code: "confirmation_mismatch".to_owned(),
                    }),
                },
            ),
            (
                "none yet",
                OfficeBackupsView {
                    menu: sample_menu(),
                    backups: Vec::new(),
                    error: None,
                },
            ),
        ]
    }
}

impl PageView for OfficeAfterSalesView {
    const TEMPLATE: &'static str = "after_sales.html";
    fn samples() -> Vec<(&'static str, OfficeAfterSalesView)> {
        use crate::orders::after_sales::{AfterSaleKind, AfterSaleLine, AfterSaleStatus};
        let request = |id: i64, status: AfterSaleStatus| AfterSale {
            id,
            order_id: crate::ids::OrderId(id),
            kind: AfterSaleKind::Refund,
            kind_label: "退款 <i>".to_owned(),
            status,
            status_label: "待审核".to_owned(),
            reason: "破损 <b>".to_owned(),
            lines: vec![AfterSaleLine { line_no: 1, qty: 2 }],
            amount_fen: 5600,
            decided_by: None,
            decision_remark: "<i>".to_owned(),
            collected_by: None,
            refunded_fen: 0,
            photos: vec!["/api/v1/uploads/broken.jpg".to_owned()],
            created_at: "2026-11-30T09:00:00+08:00".to_owned(),
        };
        let full = OfficeAfterSalesView {
            menu: sample_menu(),
            status: "requested",
            requests: vec![
                request(1, AfterSaleStatus::Requested),
                request(2, AfterSaleStatus::Approved),
                request(3, AfterSaleStatus::Collected),
            ],
            may_refund: true,
            error: Some(RowError {
                id: 1,
                error: FormError {
                    form: "decide",
                    code: "reason_required".to_owned(),
                    field: Some("remark".to_owned()),
                },
            }),
        };
        vec![
            ("a queue", full.clone()),
            (
                "an empty queue, no refunds",
                OfficeAfterSalesView {
                    status: "refunded",
                    requests: Vec::new(),
                    may_refund: false,
                    error: None,
                    ..full
                },
            ),
        ]
    }
}

/// Every office page sample as (template, what it shows, the view as a value).
pub fn page_samples() -> Vec<(&'static str, &'static str, minijinja::Value)> {
    let mut all = super::views::samples_of::<DashboardView>();
    all.extend(super::views::samples_of::<ScriptsView>());
    all.extend(super::views::samples_of::<OfficeOrdersView>());
    all.extend(super::views::samples_of::<OfficeMembersView>());
    all.extend(super::views::samples_of::<OfficeMemberView>());
    all.extend(super::views::samples_of::<OfficeMessagesView>());
    all.extend(super::views::samples_of::<OfficePluginsView>());
    all.extend(super::views::samples_of::<OfficeAuditView>());
    all.extend(super::views::samples_of::<OfficeBackupsView>());
    all.extend(super::views::samples_of::<jobs::OfficeJobView>());
    all.extend(super::views::samples_of::<OfficeAfterSalesView>());
    all.extend(super::views::samples_of::<goods::OfficeGoodsView>());
    all.extend(super::views::samples_of::<goods::OfficeProductView>());
    all.extend(super::views::samples_of::<goods::OfficeLibraryView>());
    all.extend(super::views::samples_of::<setup::OfficeSettingsView>());
    all.extend(super::views::samples_of::<setup::OfficeStaffView>());
    all.extend(super::views::samples_of::<setup::OfficeRegionsView>());
    all.extend(super::views::samples_of::<decoration::OfficeDecorationView>());
    all.extend(super::views::samples_of::<super::screens::OfficeScreenView>());
    all.extend(super::views::samples_of::<ErrorView>());
    all
}
