//! 电脑版总后台: the back office at `/admin`, for the office's desk (wide tables, keyboard and
//! mouse), in the same sessions as the phone pages and drawn by the office theme
//! (`themes::office`). Its menu is data read against the permission table (`MENU`), so a role
//! is never offered a screen its permissions refuse, and each screen calls the JSON API's own
//! handlers with the caller, so it shows and changes only what the API would let him.

pub mod decoration;
pub mod goods;
pub mod jobs;
pub mod member;
pub mod plugins;
pub mod setup;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use self::jobs::Work;
use super::{Page, Visit};
use crate::accounts::MemberState;
use crate::accounts::audit::{self, LoginQuery, OperationQuery};
use crate::accounts::permissions::{Actor, Permission};
use crate::accounts::sessions::ClientInfo;
use crate::edge::extract::{Path, Query};
use crate::edge::json::ApiJson;
use crate::error::ApiError;
use crate::jobs::{Finished, Jobs};
use crate::members::review::{self, Approval, MemberQuery, Rejection};
use crate::notify::{MessageQuery, MessageState};
use crate::orders::OrderStatus;
use crate::orders::after_sales::{self, AfterSaleStatus, Decision, QueueQuery, RefundInput};
use crate::orders::queries::{self, OrderQuery};
use crate::scripts::admin::{self as script_admin, DraftInput, ScriptInput};
use crate::scripts::replay::{self, ReplayInput};
use crate::scripts::{Rules, ScriptsState};
use crate::shop::Shop;
use crate::themes::office::{
    BackupError, CartPreview, DashboardView, MenuEntry, OfficeAfterSalesView, OfficeAuditView,
    OfficeBackupsView, OfficeMembersView, OfficeMessagesView, OfficeOrdersView, RowError,
    ScriptProblem, ScriptsView,
};
use crate::themes::views::FormError;

/// One screen of the back office: the theme's word for it, where it is, and the permissions
/// that open it (any of them).
pub struct Screen {
    pub key: &'static str,
    pub href: &'static str,
    pub any_of: &'static [Permission],
}

use Permission::{
    ConfirmAnyOrder, ConfirmOwnOrders, ManageBackups, ManageCatalog, ManageRegions, ManageSettings,
    ManageStaff, ReadAudit, ReadMembers, ReadMessages, SendMessages,
};

/// The office's screens in menu order. The dashboard opens to whoever has another.
pub const MENU: &[Screen] = &[
    Screen {
        key: "orders",
        href: "/admin/orders",
        any_of: &[ConfirmAnyOrder, ConfirmOwnOrders],
    },
    Screen {
        key: "after_sales",
        href: "/admin/after-sales",
        any_of: &[ConfirmAnyOrder, ConfirmOwnOrders],
    },
    Screen {
        key: "goods",
        href: "/admin/goods",
        any_of: &[ManageCatalog],
    },
    Screen {
        key: "catalogue",
        href: "/admin/catalogue",
        any_of: &[ManageCatalog],
    },
    Screen {
        key: "members",
        href: "/admin/members",
        any_of: &[ReadMembers],
    },
    Screen {
        key: "messages",
        href: "/admin/messages",
        any_of: &[ReadMessages],
    },
    Screen {
        key: "staff",
        href: "/admin/staff",
        any_of: &[ManageStaff],
    },
    Screen {
        key: "regions",
        href: "/admin/regions",
        any_of: &[ManageRegions],
    },
    Screen {
        key: "settings",
        href: "/admin/settings",
        any_of: &[ManageSettings],
    },
    Screen {
        key: "pricing_script",
        href: "/admin/scripts/pricing",
        any_of: &[ManageSettings],
    },
    Screen {
        key: "notification_script",
        href: "/admin/scripts/notifications",
        any_of: &[ManageSettings],
    },
    Screen {
        key: "plugins",
        href: "/admin/plugins",
        any_of: &[ManageSettings],
    },
    Screen {
        key: "decoration",
        href: "/admin/decoration",
        any_of: &[ManageSettings],
    },
    Screen {
        key: "audit",
        href: "/admin/audit",
        any_of: &[ReadAudit],
    },
    Screen {
        key: "backups",
        href: "/admin/backups",
        any_of: &[ManageBackups],
    },
];

/// The menu `actor` sees: the dashboard and every screen his permissions open; refused
/// (`forbidden`) when they open none, so a member has no back office at all.
pub fn menu(actor: &Actor) -> Result<Vec<MenuEntry>, ApiError> {
    let open: Vec<MenuEntry> = MENU
        .iter()
        .filter(|screen| screen.any_of.iter().any(|p| actor.has(*p)))
        .map(|screen| MenuEntry {
            key: screen.key,
            href: screen.href,
        })
        .collect();
    if open.is_empty() {
        return Err(ApiError::forbidden());
    }
    let mut entries = vec![MenuEntry {
        key: "dashboard",
        href: "/admin",
    }];
    entries.extend(open);
    Ok(entries)
}

/// Whether `actor` has a back office (its entry on 我的).
pub fn opens_to(actor: &Actor) -> bool {
    menu(actor).is_ok()
}

/// The screen `key`'s menu for `actor`, refused when his permissions do not open it.
fn menu_for(actor: &Actor, key: &str) -> Result<Vec<MenuEntry>, ApiError> {
    let entries = menu(actor)?;
    if entries.iter().any(|entry| entry.key == key) {
        Ok(entries)
    } else {
        Err(ApiError::forbidden())
    }
}

/// The picture a form's `file` carries, checked and stored as the shop's (`field` names it in
/// a refusal): the one path for a logo, a brand's logo and the service QR code.
pub async fn picture_of(
    shop: &Shop,
    actor: &Actor,
    request: axum::extract::Request,
    field: &'static str,
) -> Result<crate::images::ShopPicture, ApiError> {
    let (_, file) = crate::pages::read_file_form(request).await?;
    let file = file.ok_or_else(|| {
        ApiError::invalid_field(
            "invalid_image",
            field,
            format!("{field}: 请选择图片 (choose a picture)"),
        )
    })?;
    crate::images::store_picture(shop, actor, file, field).await
}

/// `GET /admin`: the menu and what waits, by order status.
pub async fn dashboard(
    State(shop): State<Shop>,
    State(jobs): State<Arc<Jobs>>,
    visit: Visit,
) -> Page {
    let view = async {
        let actor = visit.actor()?;
        let menu = menu(&actor)?;
        let jobs = jobs::lines(&jobs, &actor);
        let order_counts = if menu.iter().any(|entry| entry.key == "orders") {
            queries::counts(State(shop), actor).await?.0
        } else {
            Vec::new()
        };
        Ok(DashboardView {
            menu,
            order_counts,
            jobs,
        })
    }
    .await;
    visit.show(view)
}

/// The filters of `/admin/orders`, as a form sends them (empty fields are no filter).
#[derive(Debug, Default, Deserialize)]
pub struct OrderSearch {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub offset: i64,
}

/// Rows a page of the office's lists shows.
const PER_PAGE: i64 = 50;

/// A list's query string: the filters given (empty ones left out) and the offset, if any.
fn query_string(filters: &[(&str, &str)], offset: Option<i64>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in filters {
        if !value.trim().is_empty() {
            query.append_pair(key, value.trim());
        }
    }
    if let Some(offset) = offset {
        query.append_pair("offset", &offset.to_string());
    }
    query.finish()
}

/// The links to the page after and before a page at `offset` showing `shown` of `total`
/// rows (none past either end); `link` makes one from an offset.
fn paging(
    offset: i64,
    shown: usize,
    total: i64,
    link: impl Fn(i64) -> String,
) -> (Option<String>, Option<String>) {
    let end = offset.saturating_add(i64::try_from(shown).unwrap_or(i64::MAX));
    (
        (end < total).then(|| link(end)),
        (offset > 0).then(|| link((offset - PER_PAGE).max(0))),
    )
}

impl OrderSearch {
    fn status(&self) -> Option<OrderStatus> {
        OrderStatus::from_db(&self.status)
    }

    /// The query string of these filters at `offset` (`None`: no offset).
    fn query(&self, offset: Option<i64>) -> String {
        query_string(
            &[
                ("q", &self.q),
                ("status", &self.status),
                ("from", &self.from),
                ("to", &self.to),
            ],
            offset,
        )
    }

    fn order_query(&self, limit: Option<i64>) -> OrderQuery {
        let text = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
        OrderQuery {
            status: self.status(),
            q: text(&self.q),
            from: text(&self.from),
            to: text(&self.to),
            limit,
            offset: Some(self.offset.max(0)),
            ..OrderQuery::default()
        }
    }
}

/// `GET /admin/orders`: every order in the caller's scope (`queries::list`), searched and
/// filtered, a page at a time, with the export of the same filters and the picking list.
pub async fn orders(
    State(shop): State<Shop>,
    visit: Visit,
    search: Result<Query<OrderSearch>, ApiError>,
) -> Page {
    let view = async {
        let actor = visit.actor()?;
        let menu = menu_for(&actor, "orders")?;
        let Query(search) = search?;
        let (counts, page, regions) = tokio::join!(
            queries::counts(State(shop.clone()), actor.clone()),
            queries::list(
                State(shop.clone()),
                actor.clone(),
                Query(search.order_query(Some(PER_PAGE))),
            ),
            shop.store.regions().list_regions(),
        );
        let page = page?;
        let (next_href, previous_href) = paging(
            search.offset.max(0),
            page.items.len(),
            page.total,
            |offset| format!("/admin/orders?{}", search.query(Some(offset))),
        );
        let all_regions = actor.has(ConfirmAnyOrder);
        Ok(OfficeOrdersView {
            menu,
            status: search.status(),
            statuses: counts?.0,
            next_href,
            previous_href,
            total: page.total,
            orders: page.items,
            regions: regions?
                .into_iter()
                .filter(|region| all_regions || actor.region_ids.contains(&region.id))
                .collect(),
            today: crate::clock::shop_date_iso(shop.clock.now_ms()),
            q: search.q,
            from: search.from,
            to: search.to,
        })
    }
    .await;
    visit.show(view)
}

/// `POST /admin/orders/export` (the list's filters: `q`, `status`, `from`, `to`): the orders
/// they select in the caller's scope as an Excel workbook, made by a job
/// (`queries::export_file`), whose page offers it to download.
pub async fn export_orders(
    State(shop): State<Shop>,
    State(jobs): State<Arc<Jobs>>,
    visit: Visit,
    body: Bytes,
) -> Page {
    let started = async {
        let actor = visit.actor()?;
        let search: OrderSearch = serde_urlencoded::from_bytes(&body)
            .map_err(|e| ApiError::bad_request("invalid_input", e.to_string()))?;
        let query = search.order_query(None);
        let owner = actor.clone();
        jobs::start(
            &jobs,
            &owner,
            Work::OrdersExport,
            move |progress| async move {
                let (file, _) = queries::export_file(&shop, &actor, &query, &progress).await?;
                Ok(Finished::of(&()).with_file(file))
            },
        )
    }
    .await;
    match started {
        Ok(href) => visit.redirect(&href),
        Err(error) => visit.show::<OfficeOrdersView>(Err(error)),
    }
}

/// The rules a `/admin/scripts/{rules}` path names.
fn rules_of(path: Result<Path<String>, ApiError>) -> Result<Rules, ApiError> {
    let Path(name) = path?;
    match name.as_str() {
        "pricing" => Ok(Rules::Pricing),
        "notifications" => Ok(Rules::Notifications),
        _ => Err(ApiError::not_found()),
    }
}

fn rules_key(rules: Rules) -> &'static str {
    match rules {
        Rules::Pricing => "pricing",
        Rules::Notifications => "notifications",
    }
}

/// The editor of `rules` as it serves, with the saved versions; `typed` fills it instead of
/// the file (a form coming back).
async fn editor(app: &ScriptsState, actor: &Actor, rules: Rules) -> Result<ScriptsView, ApiError> {
    let menu = menu_for(actor, screen_key(rules))?;
    let (file, history) = match rules {
        Rules::Pricing => (
            script_admin::get(State(app.clone()), actor.clone())
                .await?
                .0,
            script_admin::history(State(app.clone()), actor.clone())
                .await?
                .0,
        ),
        Rules::Notifications => (
            script_admin::get_notifications(State(app.clone()), actor.clone())
                .await?
                .0,
            script_admin::notifications_history(State(app.clone()), actor.clone())
                .await?
                .0,
        ),
    };
    Ok(ScriptsView {
        menu,
        rules: rules_key(rules),
        file: rules.file(),
        source: file.source,
        serving_version: file.serving_version,
        load_error: file.error,
        problem: None,
        checked_version: None,
        replay: None,
        preview: None,
        preview_phone: String::new(),
        preview_lines: String::new(),
        preview_error: None,
        last: DEFAULT_REPLAY,
        note: String::new(),
        history,
    })
}

fn screen_key(rules: Rules) -> &'static str {
    match rules {
        Rules::Pricing => "pricing_script",
        Rules::Notifications => "notification_script",
    }
}

const DEFAULT_REPLAY: i64 = 20;

/// What `/admin/scripts/pricing?replay={job}` shows: the draft replayed as typed, with
/// what the replay found.
#[derive(Debug, Deserialize, Serialize)]
struct Replayed {
    source: String,
    note: String,
    last: i64,
    replay: replay::Replay,
}

#[derive(Debug, Deserialize)]
pub struct EditorQuery {
    /// A finished replay job of the caller's, to show.
    replay: Option<String>,
}

/// `GET /admin/scripts/{rules}`: the editor of `pricing.rhai` or `notifications.rhai`; with
/// `replay`, the draft a replay job ran and what it found (its page while it runs).
pub async fn script(
    State(app): State<ScriptsState>,
    State(jobs): State<Arc<Jobs>>,
    visit: Visit,
    path: Result<Path<String>, ApiError>,
    query: Result<Query<EditorQuery>, ApiError>,
) -> Page {
    let view = async {
        let actor = visit.actor()?;
        let rules = rules_of(path)?;
        let mut view = editor(&app, &actor, rules).await?;
        // Only the pricing rules are replayed.
        if let (Some(id), Rules::Pricing) = (query?.0.replay, rules) {
            let Some(outcome) = jobs::finished_replay(&jobs, &actor, &id)? else {
                return Ok(Outcome::Elsewhere(jobs::job_href(&id)));
            };
            let replayed: Replayed = serde_json::from_value(outcome).map_err(ApiError::internal)?;
            view.source = replayed.source;
            view.note = replayed.note;
            view.last = replayed.last;
            view.replay = Some(replayed.replay);
        }
        Ok(Outcome::Show(StatusCode::OK, Box::new(view)))
    }
    .await;
    show_outcome(&visit, view)
}

/// What a visit to the editor comes to: the editor (as saved, checked or refused), or
/// another page to go to (the saved file's editor, a replay's job).
enum Outcome {
    Show(StatusCode, Box<ScriptsView>),
    Elsewhere(String),
}

fn show_outcome(visit: &Visit, outcome: Result<Outcome, ApiError>) -> Page {
    match outcome {
        Ok(Outcome::Elsewhere(href)) => visit.redirect(&href),
        Ok(Outcome::Show(status, view)) => visit.show_with(status, view.as_ref()),
        Err(error) => visit.show::<ScriptsView>(Err(error)),
    }
}

/// `POST /admin/scripts/{rules}` (`source`, `note`, `last`, `action`): `check` the typed
/// source, `replay` the last orders with it (pricing; a job, whose page comes back to the
/// editor with what it found), or `save` it. The source is checked first every time, so a
/// refusal shows at its line with the source as typed, and nothing is saved.
pub async fn script_action(
    State(app): State<ScriptsState>,
    State(jobs): State<Arc<Jobs>>,
    visit: Visit,
    path: Result<Path<String>, ApiError>,
    body: Bytes,
) -> Page {
    let form: std::collections::BTreeMap<String, String> =
        form_urlencoded::parse(&body).into_owned().collect();
    let source = form.get("source").cloned().unwrap_or_default();
    let note = form.get("note").cloned().unwrap_or_default();
    let action = form.get("action").map_or("check", String::as_str);
    let outcome = async {
        let actor = visit.actor()?;
        let rules = rules_of(path)?;
        let mut view = editor(&app, &actor, rules).await?;
        view.last = match form.get("last").map(|l| l.trim().parse::<i64>()) {
            None => DEFAULT_REPLAY,
            Some(Ok(last)) => last,
            Some(Err(_)) => {
                return Err(ApiError::invalid_field(
                    "invalid_input",
                    "last",
                    "last: 须为整数 (a whole number)",
                ));
            }
        };
        let checked = script_admin::check_rules(
            &app,
            &actor,
            rules,
            ApiJson(DraftInput {
                source: source.clone(),
            }),
        )
        .await?
        .0;
        view.source = source.clone();
        view.note = note.clone();
        if let Some(problem) = checked.problem {
            view.problem = Some(ScriptProblem::new(
                problem.message,
                problem.line,
                problem.column,
                &source,
            ));
            return Ok(Outcome::Show(
                StatusCode::UNPROCESSABLE_ENTITY,
                Box::new(view),
            ));
        }
        view.checked_version = checked.version;
        match (action, rules) {
            ("save", _) => {
                let input = ApiJson(ScriptInput { source, note });
                // The editor shows the file again after the redirect.
                let _saved = match rules {
                    Rules::Pricing => script_admin::put(State(app.clone()), actor, input).await?,
                    Rules::Notifications => {
                        script_admin::put_notifications(State(app.clone()), actor, input).await?
                    }
                };
                Ok(Outcome::Elsewhere(format!(
                    "/admin/scripts/{}?notice=script_saved",
                    rules_key(rules)
                )))
            }
            ("preview", Rules::Pricing) => {
                view.preview_phone = form.get("preview_phone").cloned().unwrap_or_default();
                view.preview_lines = form.get("preview_lines").cloned().unwrap_or_default();
                let previewed = preview_cart(
                    &app,
                    &actor,
                    source,
                    &view.preview_phone,
                    &view.preview_lines,
                )
                .await;
                let status = match previewed {
                    Ok(preview) => {
                        view.preview = Some(CartPreview::of(&preview));
                        StatusCode::OK
                    }
                    Err(error) => {
                        view.preview_error = Some(FormError::of("preview", &error));
                        error.status
                    }
                };
                Ok(Outcome::Show(status, Box::new(view)))
            }
            ("replay", Rules::Pricing) => {
                let last = view.last;
                // Refused before a job starts, as the API refuses it.
                replay::check_last(last)?;
                let app = app.clone();
                let owner = actor.clone();
                let href = jobs::start(&jobs, &owner, Work::Replay, move |progress| async move {
                    let input = ReplayInput {
                        source: source.clone(),
                        last,
                    };
                    let replay = replay::replay_draft(&app, &actor, input, &progress).await?;
                    Ok(Finished::of(&Replayed {
                        source,
                        note,
                        last,
                        replay,
                    }))
                })?;
                Ok(Outcome::Elsewhere(href))
            }
            _ => Ok(Outcome::Show(StatusCode::OK, Box::new(view))),
        }
    }
    .await;
    show_outcome(&visit, outcome)
}

/// Prices the goods `lines` lists (`code quantity` a line, as quick order reads them) for the
/// member whose phone is `phone`, with the serving script and with `source`
/// (`script_admin::preview`).
async fn preview_cart(
    app: &ScriptsState,
    actor: &Actor,
    source: String,
    phone: &str,
    lines: &str,
) -> Result<script_admin::Preview, ApiError> {
    let member_id = app
        .shop
        .store
        .accounts()
        .user_id_by_phone(phone.trim())
        .await?
        .ok_or_else(|| {
            ApiError::invalid_field(
                "unknown_member",
                "preview_phone",
                "preview_phone: 没有这个手机号的会员 (no member with this phone)",
            )
        })?;
    let lines =
        crate::orders::cart::lines_of_list(&app.shop, lines.as_bytes(), true, "preview_lines")
            .await?
            .into_iter()
            .map(|(line, _)| line)
            .collect();
    let input = script_admin::PreviewInput {
        source,
        member_id,
        lines,
    };
    Ok(
        script_admin::preview(State(app.clone()), actor.clone(), ApiJson(input))
            .await?
            .0,
    )
}

/// `POST /admin/scripts/{rules}/rollback/{id}`: put a saved version back, as a new version.
pub async fn roll_back_script(
    State(app): State<ScriptsState>,
    visit: Visit,
    path: Result<Path<(String, i64)>, ApiError>,
) -> Page {
    let outcome = async {
        let actor = visit.actor()?;
        let Path((name, id)) = path?;
        let rules = rules_of(Ok(Path(name)))?;
        // The editor shows the file again after the redirect.
        let _rolled_back = match rules {
            Rules::Pricing => script_admin::rollback(State(app.clone()), actor, Path(id)).await?,
            Rules::Notifications => {
                script_admin::rollback_notifications(State(app.clone()), actor, Path(id)).await?
            }
        };
        Ok(rules)
    }
    .await;
    match outcome {
        Ok(rules) => visit.redirect(&format!(
            "/admin/scripts/{}?notice=script_rolled_back",
            rules_key(rules)
        )),
        Err(error) => visit.show::<ScriptsView>(Err(error)),
    }
}

/// The filters of the office's simple lists (`/admin/members`, `/admin/messages`).
#[derive(Debug, Default, Deserialize)]
pub struct StateSearch {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub offset: i64,
}

/// The members screen for `actor`, at `search`, with `error` from a refused form.
async fn members_view(
    shop: &Shop,
    actor: Actor,
    search: &StateSearch,
    error: Option<RowError>,
) -> Result<OfficeMembersView, ApiError> {
    let menu = menu_for(&actor, "members")?;
    let state = MemberState::from_db(search.state.trim());
    let offset = search.offset.max(0);
    let may_review = review::may_review(&actor);
    let page = review::list(
        State(shop.clone()),
        actor.clone(),
        Query(MemberQuery {
            state,
            limit: Some(PER_PAGE),
            offset: Some(offset),
            ..MemberQuery::default()
        }),
    )
    .await?;
    let levels = if may_review {
        crate::members::list_levels(State(shop.clone()), actor)
            .await?
            .0
    } else {
        Vec::new()
    };
    let (next_href, previous_href) = paging(offset, page.items.len(), page.total, |offset| {
        format!(
            "/admin/members?{}",
            query_string(&[("state", &search.state)], Some(offset))
        )
    });
    Ok(OfficeMembersView {
        menu,
        state,
        total: page.total,
        members: page.items,
        next_href,
        previous_href,
        may_review,
        levels,
        regions: shop.store.regions().list_regions().await?,
        error,
    })
}

/// `GET /admin/members`: members in the caller's scope by state (`review::list`), those whose
/// profile waits for review with the approve and reject forms for those who may.
pub async fn members(
    State(shop): State<Shop>,
    visit: Visit,
    search: Result<Query<StateSearch>, ApiError>,
) -> Page {
    let view = async {
        let actor = visit.actor()?;
        let Query(search) = search?;
        members_view(&shop, actor, &search, None).await
    }
    .await;
    visit.show(view)
}

/// `POST /admin/members/{id}/approve` (`region_id`, `level_id`) and `…/reject` (`reason`):
/// through `review::approve` and `review::reject`; back to the queue, or the queue again with
/// the refusal beside that member.
pub async fn review_member(
    State(shop): State<Shop>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<(i64, String)>, ApiError>,
    body: Bytes,
) -> Page {
    // A member's level, tags and credit are changed on his own page.
    if let Ok(Path((id, action))) = &path
        && member::MEMBER_FORMS.contains(&action.as_str())
    {
        return member::change_member(shop, visit, client, *id, action, body).await;
    }
    let form: std::collections::BTreeMap<String, String> =
        form_urlencoded::parse(&body).into_owned().collect();
    let number = |key: &str| form.get(key).and_then(|v| v.trim().parse::<i64>().ok());
    let outcome = async {
        let actor = visit.actor()?;
        let Path((id, decision)) = path?;
        let done = match decision.as_str() {
            "approve" => {
                let form = "approve";
                let approval = number("region_id")
                    .map(|region_id| Approval {
                        region_id,
                        level_id: number("level_id"),
                        manager_id: None,
                    })
                    .ok_or_else(|| {
                        ApiError::invalid_field(
                            "invalid_input",
                            "region_id",
                            "region_id: 请选择区域 (choose a region)",
                        )
                    });
                match approval {
                    Ok(approval) => review::approve(
                        State(shop.clone()),
                        actor.clone(),
                        client,
                        Path(id),
                        ApiJson(approval),
                    )
                    .await
                    .map(|_| {
                        "/admin/members?state=profile_complete&notice=member_approved".to_owned()
                    }),
                    Err(error) => Err(error),
                }
                .map_err(|error| (form, error))
            }
            "reject" => review::reject(
                State(shop.clone()),
                actor.clone(),
                client,
                Path(id),
                ApiJson(Rejection {
                    reason: form.get("reason").cloned().unwrap_or_default(),
                }),
            )
            .await
            .map(|_| "/admin/members?state=profile_complete&notice=member_rejected".to_owned())
            .map_err(|error| ("reject", error)),
            _ => return Err(ApiError::not_found()),
        };
        Ok((actor, id, done))
    }
    .await;
    row_form(&visit, outcome, |actor, refused| async move {
        let search = StateSearch {
            state: "profile_complete".to_owned(),
            offset: 0,
        };
        members_view(&shop, actor, &search, Some(refused)).await
    })
    .await
}

/// `GET /admin/messages`: the outgoing messages by state (`notify::list`), newest first.
pub async fn messages(
    State(shop): State<Shop>,
    visit: Visit,
    search: Result<Query<StateSearch>, ApiError>,
) -> Page {
    let view = async {
        let actor = visit.actor()?;
        let menu = menu_for(&actor, "messages")?;
        let Query(search) = search?;
        let state = search.state.trim();
        let parsed = (!state.is_empty())
            .then(|| {
                serde_json::from_value::<MessageState>(serde_json::Value::from(state)).map_err(
                    |_| {
                        ApiError::invalid_field(
                            "invalid_input",
                            "state",
                            "state: 没有这个状态 (no such state)",
                        )
                    },
                )
            })
            .transpose()?;
        let offset = search.offset.max(0);
        let may_send = actor.has(SendMessages);
        let page = crate::notify::list(
            State(shop),
            actor,
            Query(MessageQuery {
                state: parsed,
                limit: Some(PER_PAGE),
                offset: Some(offset),
                ..MessageQuery::default()
            }),
        )
        .await?;
        let (next_href, previous_href) = paging(offset, page.items.len(), page.total, |offset| {
            format!(
                "/admin/messages?{}",
                query_string(&[("state", state)], Some(offset))
            )
        });
        Ok(OfficeMessagesView {
            menu,
            state: parsed.map(|_| state.to_owned()),
            total: page.total,
            messages: page.items,
            next_href,
            previous_href,
            may_send,
        })
    }
    .await;
    visit.show(view)
}

/// `POST /admin/messages/{id}/retry`: send it again now (`notify::retry`), back to the list.
pub async fn retry_message(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
) -> Page {
    let outcome = async {
        let actor = visit.actor()?;
        let Path(id) = path?;
        crate::notify::retry(State(shop), actor, Path(id)).await
    }
    .await;
    match outcome {
        Ok(_) => visit.redirect("/admin/messages?notice=message_retried"),
        Err(error) => visit.show::<OfficeMessagesView>(Err(error)),
    }
}

/// The filters of `/admin/audit`: `kind` (`operations`, the default, or `logins`).
#[derive(Debug, Default, Deserialize)]
pub struct AuditSearch {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub offset: i64,
}

/// `GET /admin/audit`: the operation log or the sign-in log, newest first (`audit`).
pub async fn audit(
    State(shop): State<Shop>,
    visit: Visit,
    search: Result<Query<AuditSearch>, ApiError>,
) -> Page {
    let view = async {
        let actor = visit.actor()?;
        let menu = menu_for(&actor, "audit")?;
        let Query(search) = search?;
        let offset = search.offset.max(0);
        let (kind, operations, logins, total) = if search.kind == "logins" {
            let page = audit::list_logins(
                State(shop),
                actor,
                Query(LoginQuery {
                    limit: Some(PER_PAGE),
                    offset: Some(offset),
                    ..LoginQuery::default()
                }),
            )
            .await?;
            ("logins", Vec::new(), page.items, page.total)
        } else {
            let page = audit::list_operations(
                State(shop),
                actor,
                Query(OperationQuery {
                    limit: Some(PER_PAGE),
                    offset: Some(offset),
                    ..OperationQuery::default()
                }),
            )
            .await?;
            ("operations", page.items, Vec::new(), page.total)
        };
        let shown = operations.len().max(logins.len());
        let (next_href, previous_href) = paging(offset, shown, total, |offset| {
            format!(
                "/admin/audit?{}",
                query_string(&[("kind", kind)], Some(offset))
            )
        });
        Ok(OfficeAuditView {
            menu,
            kind,
            operations,
            logins,
            total,
            next_href,
            previous_href,
        })
    }
    .await;
    visit.show(view)
}

/// The backups screen for `actor`, with `error` from a refused restore.
async fn backups_view(
    shop: &Shop,
    actor: Actor,
    error: Option<BackupError>,
) -> Result<OfficeBackupsView, ApiError> {
    let menu = menu_for(&actor, "backups")?;
    let backups = crate::backup::http::list(State(shop.clone()), actor)
        .await?
        .0;
    Ok(OfficeBackupsView {
        menu,
        backups,
        error,
    })
}

/// `GET /admin/backups`: the backups on disk, newest first, to download and restore.
pub async fn backups(State(shop): State<Shop>, visit: Visit) -> Page {
    let view = async { backups_view(&shop, visit.actor()?, None).await }.await;
    visit.show(view)
}

/// `POST /admin/backups`: make a backup now (`backup::http::make`) as a job, whose page
/// shows the backup made.
pub async fn make_backup(
    State(shop): State<Shop>,
    State(jobs): State<Arc<Jobs>>,
    visit: Visit,
    client: ClientInfo,
) -> Page {
    let started = visit.actor().and_then(|actor| {
        let owner = actor.clone();
        jobs::start(&jobs, &owner, Work::Backup, move |progress| async move {
            let made = crate::backup::http::make(&shop, &actor, &client, &progress).await?;
            Ok(Finished::of(&made))
        })
    });
    match started {
        Ok(href) => visit.redirect(&href),
        Err(error) => visit.show::<OfficeBackupsView>(Err(error)),
    }
}

/// `POST /admin/backups/{name}/restore` (`confirm`: the name typed again): replace all data
/// with the backup (`backup::http::restore_named`) as a job. Every session ends when it is
/// done, this one too, so its page then asks to sign in again and shows the tables restored
/// after. A name typed wrong restores nothing and says so beside the backup.
pub async fn restore_backup(
    State(shop): State<Shop>,
    State(jobs): State<Arc<Jobs>>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<String>, ApiError>,
    body: Bytes,
) -> Page {
    let confirm = form_urlencoded::parse(&body)
        .find(|(key, _)| key == "confirm")
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default();
    let outcome = async {
        let actor = visit.actor()?;
        let Path(name) = path?;
        if confirm != name {
            // Asked first (the screen is the admin's), so another role learns nothing here.
            let view = backups_view(
                &shop,
                actor,
                Some(BackupError {
                    name,
                    code: "confirmation_mismatch".to_owned(),
                }),
            )
            .await?;
            return Ok(Err(view));
        }
        let owner = actor.clone();
        let shop = shop.clone();
        let href = jobs::start(&jobs, &owner, Work::Restore, move |progress| async move {
            let restored =
                crate::backup::http::restore_named(&shop, &actor, &client, name, &progress).await?;
            Ok(Finished::of(&restored))
        })?;
        Ok(Ok(href))
    }
    .await;
    match outcome {
        Ok(Ok(href)) => visit.redirect(&href),
        Ok(Err(view)) => visit.show_with(StatusCode::UNPROCESSABLE_ENTITY, &view),
        Err(error) => visit.show::<OfficeBackupsView>(Err(error)),
    }
}

/// The queue of `status` with `notice`, where a request goes after a decision or a refund.
fn after_sales_href(status: AfterSaleStatus, notice: &str) -> String {
    format!(
        "/admin/after-sales?state={}&notice={notice}",
        status.as_str()
    )
}

/// The after-sales screen for `actor` at `status`, with `error` from a refused form.
async fn after_sales_view(
    shop: &Shop,
    actor: Actor,
    status: AfterSaleStatus,
    error: Option<RowError>,
) -> Result<OfficeAfterSalesView, ApiError> {
    let menu = menu_for(&actor, "after_sales")?;
    let may_refund = actor.has(Permission::SettleOrders);
    let requests = after_sales::queue(
        State(shop.clone()),
        actor,
        Query(QueueQuery {
            status: Some(status),
        }),
    )
    .await?
    .0;
    Ok(OfficeAfterSalesView {
        menu,
        status: status.as_str(),
        requests,
        may_refund,
        error,
    })
}

/// `GET /admin/after-sales?status=`: the requests in a status (default 待审核) of the orders
/// the caller may decide on (`after_sales::queue`).
pub async fn after_sales_queue(
    State(shop): State<Shop>,
    visit: Visit,
    search: Result<Query<StateSearch>, ApiError>,
) -> Page {
    let view = async {
        let actor = visit.actor()?;
        let Query(search) = search?;
        let status =
            AfterSaleStatus::parse(search.state.trim()).unwrap_or(AfterSaleStatus::Requested);
        after_sales_view(&shop, actor, status, None).await
    }
    .await;
    visit.show(view)
}

/// `POST /admin/after-sales/{id}/decide` (`approve` `true`/`false`, `remark`) and
/// `…/refund` (`amount` in yuan, `remark`), each with `state`, the queue it was posted from: through `after_sales::decide` and
/// `after_sales::refund`; back to the queue, or the queue again with the refusal beside the
/// request.
pub async fn after_sales_action(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<(i64, String)>, ApiError>,
    body: Bytes,
) -> Page {
    let form: std::collections::BTreeMap<String, String> =
        form_urlencoded::parse(&body).into_owned().collect();
    let remark = form.get("remark").cloned().unwrap_or_default();
    let from = form.get("state").cloned().unwrap_or_default();
    let outcome = async {
        let actor = visit.actor()?;
        let Path((id, action)) = path?;
        let done = match action.as_str() {
            "decide" => {
                let approve = form.get("approve").is_some_and(|v| v == "true");
                after_sales::decide(
                    State(shop.clone()),
                    actor.clone(),
                    Path(id),
                    ApiJson(Decision { approve, remark }),
                )
                .await
                .map(|done| after_sales_href(done.0.status, "after_sale_decided"))
                .map_err(|error| ("decide", error))
            }
            "refund" => {
                let amount =
                    crate::money::parse_yuan(form.get("amount").map_or("", |a| a.trim()), "amount");
                match amount {
                    Ok(amount_fen) => after_sales::refund(
                        State(shop.clone()),
                        actor.clone(),
                        Path(id),
                        ApiJson(RefundInput { amount_fen, remark }),
                    )
                    .await
                    .map(|done| after_sales_href(done.0.status, "after_sale_refunded")),
                    Err(error) => Err(error),
                }
                .map_err(|error| ("refund", error))
            }
            _ => return Err(ApiError::not_found()),
        };
        Ok((actor, id, done))
    }
    .await;
    // The queue the form was posted from (its hidden `state`).
    let status = AfterSaleStatus::parse(&from).unwrap_or(AfterSaleStatus::Requested);
    row_form(&visit, outcome, |actor, refused| async move {
        after_sales_view(&shop, actor, status, Some(refused)).await
    })
    .await
}

/// What a form posted on a list's row came to: refused before it reached its handler (the
/// page's own error), or the caller, the row's id, and where to go next or the form's name
/// and its refusal.
type RowOutcome = Result<(Actor, i64, Result<String, (&'static str, ApiError)>), ApiError>;

/// The answer to a form posted on a list's row: on to `done`'s address, or the list again
/// (`relist`) with the refusal beside the row and the refusal's status.
async fn row_form<V, Relist>(
    visit: &Visit,
    outcome: RowOutcome,
    relist: impl FnOnce(Actor, RowError) -> Relist,
) -> Page
where
    V: crate::themes::views::PageView,
    Relist: std::future::Future<Output = Result<V, ApiError>>,
{
    match outcome {
        Err(error) => visit.show::<V>(Err(error)),
        Ok((_, _, Ok(next))) => visit.redirect(&next),
        Ok((actor, id, Err((form, error)))) => {
            let refused = RowError {
                id,
                error: FormError::of(form, &error),
            };
            match relist(actor, refused).await {
                Ok(view) => visit.show_with(error.status, &view),
                Err(_) => visit.show::<V>(Err(error)),
            }
        }
    }
}
