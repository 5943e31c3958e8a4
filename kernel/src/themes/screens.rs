//! A plugin's screen (capability `screens`, `pifa_sdk::Screen`) as a theme draws it: the
//! blocks the plugin answered, turned into `ScreenView` before any template sees them.
//!
//! The plugin never writes HTML, and what it writes is not trusted here either:
//! - every text is cleaned as the kernel cleans any plugin text a person reads
//!   (`text::from_plugin`), and the template escapes it;
//! - every link is resolved here, not in the template: a path of the plugin (`/gifts/7`)
//!   becomes its screen on the same desk (`/p/points/gifts/7`, `/admin/p/points/gifts/7`), a
//!   `shop:` link one of the shop's own pages (goods, search, cart, orders, categories,
//!   brands), and anything else (`//evil`, `javascript:`, `http://…`) is dropped with the
//!   button or link that carried it;
//! - a card's picture is shown only when the shop stored it (`sections::is_picture_url`);
//! - lists are cut at the sizes the samples render, so a screen within them draws within the
//!   theme's fuel whatever the plugin answered.

use std::collections::BTreeMap;

use serde::Serialize;

use super::office::MenuEntry;
use super::sections::{is_picture_url, is_shop_link};
use super::views::PageView;
use crate::text::{PluginText, from_plugin};

/// The most blocks a screen shows, and of each list in a block (the samples draw these many).
pub const MAX_BLOCKS: usize = 24;
pub const MAX_ROWS: usize = 100;
pub const MAX_COLUMNS: usize = 10;
pub const MAX_ROW_ACTIONS: usize = 3;
pub const MAX_CARDS: usize = 60;
pub const MAX_CARD_LINES: usize = 6;
pub const MAX_FIELDS: usize = 30;
pub const MAX_OPTIONS: usize = 60;
pub const MAX_ACTIONS: usize = 8;
pub const MAX_ACTION_FIELDS: usize = 8;
pub const MAX_LINKS: usize = 24;
pub const MAX_FIGURES: usize = 8;

/// The form fields the kernel's own: a field of the plugin's by one of these names is dropped.
pub const CSRF_FIELD: &str = crate::edge::json::FORM_TOKEN_FIELD;
/// Where to go after a success (a screen of the same plugin).
pub const BACK_FIELD: &str = "_back";
/// The screen the form is on, drawn again with a refusal.
pub const SCREEN_FIELD: &str = "_screen";

/// The pages a `shop:` link may open (`shop:/products/12`).
const SHOP_PAGES: [&str; 6] = [
    "/products/",
    "/search",
    "/cart",
    "/orders",
    "/categories",
    "/brands",
];

/// Where screens are drawn: the phone app (the storefront theme) or the back office (the
/// office theme).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Desk {
    Phone,
    Office,
}

impl Desk {
    /// What a plugin's screens are served under: `/p` or `/admin/p`.
    pub fn prefix(self) -> &'static str {
        match self {
            Desk::Phone => "/p",
            Desk::Office => "/admin/p",
        }
    }
}

/// One plugin's screens on one desk: how its paths become the kernel's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenBase {
    pub desk: Desk,
    pub plugin: String,
}

impl ScreenBase {
    pub fn new(desk: Desk, plugin: &str) -> ScreenBase {
        ScreenBase {
            desk,
            plugin: plugin.to_owned(),
        }
    }

    /// The kernel's address of the plugin's `path` (`/gifts/7` → `/p/points/gifts/7`), or
    /// `None` when `path` is not a plain path of the plugin's.
    pub fn href(&self, path: &str) -> Option<String> {
        is_plugin_path(path).then(|| format!("{}/{}{path}", self.desk.prefix(), self.plugin))
    }

    /// Whether `href` is a screen address of this plugin on either desk (`/p/points/…`,
    /// `/admin/p/points/…`): where a form may send the browser after a success.
    pub fn owns(&self, href: &str) -> bool {
        [Desk::Phone, Desk::Office].into_iter().any(|desk| {
            href.strip_prefix(desk.prefix())
                .and_then(|rest| rest.strip_prefix('/'))
                .and_then(|rest| rest.strip_prefix(self.plugin.as_str()))
                .is_some_and(is_plugin_path)
        })
    }

    /// A link of a block: the plugin's screen, a `shop:` page, or nothing.
    pub fn link(&self, link: &str) -> Option<String> {
        match link.strip_prefix("shop:") {
            Some(page) => shop_page(page),
            None => self.href(link),
        }
    }
}

/// A path of a plugin's routes, with or without a query (`/office?month=2026-01`): literal
/// segments of URL-safe characters (no `.` or `..`, which a browser would resolve out of the
/// plugin's screens), a query of URL-safe characters; at most 300 characters.
pub fn is_plugin_path(path: &str) -> bool {
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let url_safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '%');
    path.len() <= 300
        && route.starts_with('/')
        && route.split('/').skip(1).all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment.chars().all(url_safe)
        })
        && query
            .chars()
            .all(|c| url_safe(c) || matches!(c, '=' | '&' | '+' | ','))
}

/// `page` when it is one of the shop's pages a screen may link to (`/products/12`,
/// `/search?q=…`), else `None`.
pub fn shop_page(page: &str) -> Option<String> {
    let route = page.split('?').next().unwrap_or_default();
    let no_dots = route.split('/').all(|s| s != "." && s != "..");
    let listed = SHOP_PAGES
        .iter()
        .any(|listed| match page.strip_prefix(listed) {
            Some(rest) if listed.ends_with('/') => !rest.is_empty(),
            Some(rest) => rest.is_empty() || rest.starts_with(['/', '?']),
            None => false,
        });
    (is_shop_link(page) && no_dots && listed).then(|| page.to_owned())
}

fn clean(text: &str) -> String {
    from_plugin(text, PluginText::Screen)
}

/// A textarea's value keeps its line breaks (a list of member ids, one a line), each line
/// cleaned, the whole held to the same cap.
fn clean_lines(text: &str) -> String {
    let joined = text.lines().map(clean).collect::<Vec<_>>().join("\n");
    match joined.char_indices().nth(PluginText::Screen.cap()) {
        None => joined,
        Some((at, _)) => joined.get(..at).unwrap_or_default().to_owned(),
    }
}

/// `screen.html` in a storefront theme: a plugin's screen in the phone app.
#[derive(Debug, Clone, Serialize)]
pub struct ScreenView {
    /// The plugin's name (`points`).
    pub plugin: String,
    pub title: String,
    pub blocks: Vec<BlockView>,
    /// This screen's address with its query (`/p/points/wallet`): every form posts it as
    /// `_screen`, to be drawn again with a refusal.
    pub here: String,
    /// What the last form's success said, in the plugin's words (「已保存」); none mostly.
    pub said: Option<String>,
    /// Why the last form was refused; none mostly.
    pub error: Option<ScreenError>,
}

/// A form's refusal: the kernel's stable code (`plugin_refused` for the plugin's own), the
/// words (the plugin's, or the kernel's), and the field it names, if any.
#[derive(Debug, Clone, Serialize)]
pub struct ScreenError {
    pub code: String,
    pub message: String,
    pub field: Option<String>,
}

/// One block, by `type`: `figures`, `text`, `table`, `cards`, `form`, `actions`, `links`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockView {
    Figures {
        items: Vec<FigureView>,
    },
    /// `tone`: `info`, `success`, `warning`.
    Text {
        text: String,
        tone: &'static str,
    },
    Table {
        title: String,
        columns: Vec<String>,
        rows: Vec<RowView>,
        /// What to say when there are no rows (empty: the theme's words).
        empty: String,
    },
    Cards {
        title: String,
        items: Vec<CardView>,
        empty: String,
    },
    Form(FormView),
    Actions {
        items: Vec<ActionView>,
    },
    Links {
        items: Vec<LinkView>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct FigureView {
    pub label: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowView {
    pub cells: Vec<String>,
    /// The screen the row opens, none when it opens none.
    pub href: Option<String>,
    pub actions: Vec<ActionView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CardView {
    /// A picture the shop stored, none otherwise.
    pub image: Option<String>,
    pub title: String,
    pub lines: Vec<String>,
    pub href: Option<String>,
    pub actions: Vec<ActionView>,
}

/// A form posting to `action` (the kernel's address of the plugin's `POST` route) with its
/// `fields`, `csrf_token`, `_back` (= `back`) and `_screen` (= the view's `here`).
#[derive(Debug, Clone, Serialize)]
pub struct FormView {
    pub title: String,
    pub action: String,
    pub fields: Vec<FieldView>,
    pub submit: String,
    pub back: String,
    /// This form was the one refused: its fields hold what was typed.
    pub refused: bool,
}

/// A form's field. `kind`: `text`, `textarea`, `number`, `money` (yuan, `inputmode=decimal`),
/// `datetime` (`datetime-local`: its value `2026-10-01T08:00`), `date`, `select`, `checkbox`
/// (ticked when `checked`; posts `on`), `image` (a picture's URL as text), `hidden`.
#[derive(Debug, Clone, Serialize)]
pub struct FieldView {
    /// Unique on the page, for `<label for>`.
    pub id: String,
    pub name: String,
    pub label: String,
    pub kind: &'static str,
    pub value: String,
    pub checked: bool,
    pub options: Vec<OptionView>,
    pub required: bool,
    pub help: String,
    pub placeholder: String,
    /// The refusal's words when it names this field.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OptionView {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// A button: a small form posting `fields` (hidden) to `action`, asking `confirm` first when
/// it is not empty (`data-confirm`, for the theme's script), drawn as destructive when
/// `danger`.
#[derive(Debug, Clone, Serialize)]
pub struct ActionView {
    pub label: String,
    pub action: String,
    pub fields: Vec<HiddenField>,
    pub confirm: String,
    pub danger: bool,
    pub back: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HiddenField {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    pub label: String,
    pub href: String,
    pub note: String,
}

/// A form that was posted and refused: where it posted (the kernel's address) and what was
/// typed, to fill it again.
#[derive(Debug, Clone, Default)]
pub struct Posted {
    pub action: String,
    pub typed: BTreeMap<String, String>,
}

/// What a screen is drawn with besides the plugin's answer.
pub struct Drawing<'a> {
    pub base: &'a ScreenBase,
    /// The screen's own address with its query.
    pub here: &'a str,
    pub said: Option<String>,
    pub error: Option<ScreenError>,
    /// The form refused, when `error` is its refusal.
    pub posted: Option<&'a Posted>,
}

/// A field name the kernel keeps for itself, or one no form can carry.
fn is_kernel_field(name: &str) -> bool {
    name.is_empty()
        || name.len() > 64
        || name == CSRF_FIELD
        || name == BACK_FIELD
        || name == SCREEN_FIELD
        || name.chars().any(char::is_control)
}

impl ScreenView {
    /// The plugin's `screen` as `drawing` says.
    pub fn of(screen: pifa_sdk::Screen, drawing: &Drawing<'_>) -> ScreenView {
        let blocks = screen
            .blocks
            .into_iter()
            .take(MAX_BLOCKS)
            .enumerate()
            .filter_map(|(n, block)| block_view(block, n, drawing))
            .collect();
        ScreenView {
            plugin: drawing.base.plugin.clone(),
            title: clean(&screen.title),
            blocks,
            here: drawing.here.to_owned(),
            said: drawing.said.as_deref().map(clean).filter(|s| !s.is_empty()),
            error: drawing.error.clone(),
        }
    }
}

fn block_view(block: pifa_sdk::Block, n: usize, drawing: &Drawing<'_>) -> Option<BlockView> {
    use pifa_sdk::Block;
    let base = drawing.base;
    let view = match block {
        Block::Figures { items } => BlockView::Figures {
            items: items
                .iter()
                .take(MAX_FIGURES)
                .map(|f| FigureView {
                    label: clean(&f.label),
                    value: clean(&f.value),
                })
                .collect(),
        },
        Block::Text { text, tone } => BlockView::Text {
            text: clean(&text),
            tone: match tone {
                pifa_sdk::Tone::Info => "info",
                pifa_sdk::Tone::Success => "success",
                pifa_sdk::Tone::Warning => "warning",
            },
        },
        Block::Table {
            title,
            columns,
            rows,
            empty,
        } => BlockView::Table {
            title: clean(&title),
            columns: columns.iter().take(MAX_COLUMNS).map(|c| clean(c)).collect(),
            rows: rows
                .iter()
                .take(MAX_ROWS)
                .map(|row| RowView {
                    cells: row
                        .cells
                        .iter()
                        .take(MAX_COLUMNS)
                        .map(|c| clean(c))
                        .collect(),
                    href: row.link.as_deref().and_then(|l| base.link(l)),
                    actions: actions(&row.actions, MAX_ROW_ACTIONS, drawing),
                })
                .collect(),
            empty: clean(&empty),
        },
        Block::Cards {
            title,
            items,
            empty,
        } => BlockView::Cards {
            title: clean(&title),
            items: items
                .iter()
                .take(MAX_CARDS)
                .map(|card| CardView {
                    image: card.image.clone().filter(|url| is_picture_url(url)),
                    title: clean(&card.title),
                    lines: card
                        .lines
                        .iter()
                        .take(MAX_CARD_LINES)
                        .map(|l| clean(l))
                        .collect(),
                    href: card.link.as_deref().and_then(|l| base.link(l)),
                    actions: actions(&card.actions, MAX_ROW_ACTIONS, drawing),
                })
                .collect(),
            empty: clean(&empty),
        },
        Block::Form(form) => BlockView::Form(form_view(form, n, drawing)?),
        Block::Actions { items } => BlockView::Actions {
            items: actions(&items, MAX_ACTIONS, drawing),
        },
        Block::Links { items } => BlockView::Links {
            items: items
                .iter()
                .take(MAX_LINKS)
                .filter_map(|link| {
                    Some(LinkView {
                        href: base.link(&link.path)?,
                        label: clean(&link.label),
                        note: clean(&link.note),
                    })
                })
                .collect(),
        },
    };
    Some(view)
}

/// Where a form or a button goes after a success: the plugin's `back`, else this screen.
fn back_of(back: &str, drawing: &Drawing<'_>) -> String {
    if back.is_empty() {
        return drawing.here.to_owned();
    }
    drawing
        .base
        .href(back)
        .unwrap_or_else(|| drawing.here.to_owned())
}

/// The buttons whose `action` is a route of the plugin (the others are dropped).
fn actions(items: &[pifa_sdk::Action], max: usize, drawing: &Drawing<'_>) -> Vec<ActionView> {
    items
        .iter()
        .filter_map(|action| {
            Some(ActionView {
                action: drawing.base.href(&action.action)?,
                label: clean(&action.label),
                fields: action
                    .fields
                    .iter()
                    .filter(|(name, _)| !is_kernel_field(name))
                    .take(MAX_ACTION_FIELDS)
                    .map(|(name, value)| HiddenField {
                        name: name.clone(),
                        value: clean(value),
                    })
                    .collect(),
                confirm: clean(&action.confirm),
                danger: action.danger,
                back: back_of(&action.back, drawing),
            })
        })
        .take(max)
        .collect()
}

fn kind_of(kind: pifa_sdk::FieldKind) -> &'static str {
    use pifa_sdk::FieldKind;
    match kind {
        FieldKind::Text => "text",
        FieldKind::Textarea => "textarea",
        FieldKind::Number => "number",
        FieldKind::Money => "money",
        FieldKind::Datetime => "datetime",
        FieldKind::Date => "date",
        FieldKind::Select => "select",
        FieldKind::Checkbox => "checkbox",
        FieldKind::Image => "image",
        FieldKind::Hidden => "hidden",
    }
}

/// A local time as `datetime-local` takes it: `2026-10-01 08:00` → `2026-10-01T08:00`.
fn datetime_local(value: &str) -> String {
    match value.split_once(' ') {
        Some((date, time)) if date.len() == 10 && !time.contains(' ') => format!("{date}T{time}"),
        _ => value.to_owned(),
    }
}

/// A form, or `None` when its `action` is not a route of the plugin.
fn form_view(form: pifa_sdk::Form, n: usize, drawing: &Drawing<'_>) -> Option<FormView> {
    let action = drawing.base.href(&form.action)?;
    let posted = drawing.posted.filter(|p| p.action == action);
    let field_error = |name: &str| {
        posted
            .and(drawing.error.as_ref())
            .filter(|e| e.field.as_deref() == Some(name))
            .map(|e| e.message.clone())
    };
    let fields = form
        .fields
        .into_iter()
        .filter(|f| !is_kernel_field(&f.name))
        .take(MAX_FIELDS)
        .enumerate()
        .map(|(i, field)| {
            let kind = kind_of(field.kind);
            let shown = match kind {
                "textarea" => clean_lines(&field.value),
                "datetime" => datetime_local(&clean(&field.value)),
                _ => clean(&field.value),
            };
            // The form refused shows what was typed (an unticked box is absent from a post).
            let value = match posted {
                Some(posted) => match posted.typed.get(&field.name) {
                    Some(typed) => typed.clone(),
                    None if kind == "checkbox" => String::new(),
                    None => shown,
                },
                None => shown,
            };
            FieldView {
                id: format!("screen-{n}-{i}"),
                error: field_error(&field.name),
                label: clean(&field.label),
                kind,
                checked: kind == "checkbox" && !value.is_empty(),
                options: field
                    .options
                    .iter()
                    .take(MAX_OPTIONS)
                    .map(|o| {
                        let value_of = clean(&o.value);
                        OptionView {
                            selected: value_of == value,
                            value: value_of,
                            label: clean(&o.label),
                        }
                    })
                    .collect(),
                value,
                required: field.required,
                help: clean(&field.help),
                placeholder: clean(&field.placeholder),
                name: field.name,
            }
        })
        .collect();
    Some(FormView {
        title: clean(&form.title),
        action,
        fields,
        submit: clean(&form.submit),
        back: back_of(&form.back, drawing),
        refused: posted.is_some(),
    })
}

/// `screen.html` in the office theme: the same screen in the back office, with its menu.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeScreenView {
    pub menu: Vec<MenuEntry>,
    #[serde(flatten)]
    pub screen: ScreenView,
}

/// A screen with every block at its most and text that must stay text, drawn with a refusal
/// on a field or a success's words.
fn sample_screen(desk: Desk) -> Vec<(&'static str, ScreenView)> {
    use pifa_sdk::{
        Action, Block, Card, Choice, FieldKind, Figure, Form, FormField, Link, Row, Screen, Tone,
    };
    let base = ScreenBase::new(desk, "points");
    let action = |n: usize| Action {
        label: format!("兑换 {n}"),
        action: format!("/gifts/{n}/redeem"),
        fields: (0..MAX_ACTION_FIELDS)
            .map(|i| (format!("f{i}"), format!("v{i} <b>")))
            .collect(),
        confirm: if n.is_multiple_of(2) {
            "确定兑换？<script>".to_owned()
        } else {
            String::new()
        },
        danger: n.is_multiple_of(3),
        back: if n.is_multiple_of(2) {
            "/mine/redemptions".to_owned()
        } else {
            String::new()
        },
    };
    let kinds = [
        FieldKind::Text,
        FieldKind::Textarea,
        FieldKind::Number,
        FieldKind::Money,
        FieldKind::Datetime,
        FieldKind::Date,
        FieldKind::Select,
        FieldKind::Checkbox,
        FieldKind::Image,
        FieldKind::Hidden,
    ];
    let fields: Vec<FormField> = (0..MAX_FIELDS)
        .map(|i| {
            let kind = kinds.get(i % kinds.len()).copied().unwrap_or_default();
            FormField {
                name: format!("field{i}"),
                label: format!("字段 {i} <i>"),
                kind,
                value: match kind {
                    FieldKind::Datetime => "2026-10-01 08:00".to_owned(),
                    FieldKind::Checkbox => "on".to_owned(),
                    FieldKind::Select => "b".to_owned(),
                    _ => format!("值 {i} \"'<"),
                },
                options: (0..MAX_OPTIONS)
                    .map(|o| Choice {
                        value: if o == 1 {
                            "b".to_owned()
                        } else {
                            format!("o{o}")
                        },
                        label: format!("选项 {o}"),
                    })
                    .collect(),
                required: i % 2 == 0,
                help: format!("说明 {i} {{{{ x }}}}"),
                placeholder: "请输入".to_owned(),
            }
        })
        .collect();
    let screen = Screen::new("积分商城 <b>")
        .with(Block::Figures {
            items: (0..MAX_FIGURES)
                .map(|i| Figure {
                    label: format!("积分余额 {i}"),
                    value: "1,280".to_owned(),
                })
                .collect(),
        })
        .with(Block::Text {
            text: "您有100积分即将过期 <script>alert(1)</script>".to_owned(),
            tone: Tone::Warning,
        })
        .with(Block::Text {
            text: "已兑换".to_owned(),
            tone: Tone::Success,
        })
        .with(Block::text("每消费¥1.00得1积分"))
        .with(Block::Table {
            title: "积分明细".to_owned(),
            columns: (0..MAX_COLUMNS).map(|c| format!("列 {c}")).collect(),
            rows: (0..MAX_ROWS)
                .map(|r| Row {
                    cells: (0..MAX_COLUMNS).map(|c| format!("{r}-{c} <td>")).collect(),
                    link: (r % 2 == 0).then(|| format!("/office/gifts/{r}")),
                    actions: (0..MAX_ROW_ACTIONS).map(action).collect(),
                })
                .collect(),
            empty: String::new(),
        })
        .with(Block::Table {
            title: String::new(),
            columns: vec!["时间".to_owned()],
            rows: Vec::new(),
            empty: "还没有积分记录".to_owned(),
        })
        .with(Block::Cards {
            title: "礼品".to_owned(),
            items: (0..MAX_CARDS)
                .map(|c| Card {
                    image: match c % 3 {
                        0 => Some(format!("/api/v1/images/gift-{c}.jpg")),
                        1 => Some("https://evil.example/x.png".to_owned()),
                        _ => None,
                    },
                    title: format!("礼品 {c} <img>"),
                    lines: (0..MAX_CARD_LINES).map(|l| format!("第{l}行")).collect(),
                    link: match c % 3 {
                        0 => Some(format!("/gifts/{c}")),
                        1 => Some(format!("shop:/products/{c}")),
                        _ => Some("javascript:alert(1)".to_owned()),
                    },
                    actions: (0..MAX_ROW_ACTIONS).map(action).collect(),
                })
                .collect(),
            empty: String::new(),
        })
        .with(Block::Cards {
            title: String::new(),
            items: Vec::new(),
            empty: String::new(),
        })
        .with(Block::Form(Form {
            title: "新增礼品".to_owned(),
            action: "/gifts".to_owned(),
            fields,
            submit: "保存".to_owned(),
            back: String::new(),
        }))
        .with(Block::Actions {
            items: (0..MAX_ACTIONS).map(action).collect(),
        })
        .with(Block::Links {
            items: (0..MAX_LINKS)
                .map(|l| Link {
                    label: format!("链接 {l}"),
                    path: if l % 2 == 0 {
                        format!("/office?page={l}")
                    } else {
                        "shop:/search?q=安全帽".to_owned()
                    },
                    note: if l % 3 == 0 {
                        String::new()
                    } else {
                        "说明".to_owned()
                    },
                })
                .collect(),
        });
    let here = format!("{}/points/mall", desk.prefix());
    let full = ScreenView::of(
        screen.clone(),
        &Drawing {
            base: &base,
            here: &here,
            said: Some("已保存 <b>".to_owned()),
            error: None,
            posted: None,
        },
    );
    let posted = Posted {
        action: format!("{}/points/gifts", desk.prefix()),
        typed: [("field0".to_owned(), "打错了 <b>".to_owned())].into(),
    };
    let refused = ScreenView::of(
        screen,
        &Drawing {
            base: &base,
            here: &here,
            said: None,
            error: Some(ScreenError {
                code: "plugin_refused".to_owned(),
                message: "名称不能为空 <b>".to_owned(),
                field: Some("field0".to_owned()),
            }),
            posted: Some(&posted),
        },
    );
    let refused_elsewhere = ScreenView::of(
        pifa_sdk::Screen::new(""),
        &Drawing {
            base: &base,
            here: &here,
            said: None,
            error: Some(ScreenError {
                code: "rate_limited".to_owned(),
                message: "请求过于频繁".to_owned(),
                field: None,
            }),
            posted: None,
        },
    );
    vec![
        ("every block at its most", full),
        ("a form refused on a field", refused),
        ("a refusal and no blocks", refused_elsewhere),
    ]
}

impl PageView for ScreenView {
    const TEMPLATE: &'static str = "screen.html";
    fn samples() -> Vec<(&'static str, ScreenView)> {
        sample_screen(Desk::Phone)
    }
}

impl PageView for OfficeScreenView {
    const TEMPLATE: &'static str = "screen.html";
    fn samples() -> Vec<(&'static str, OfficeScreenView)> {
        sample_screen(Desk::Office)
            .into_iter()
            .map(|(label, screen)| {
                (
                    label,
                    OfficeScreenView {
                        menu: super::office::sample_menu(),
                        screen,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pifa_sdk::{Action, Block, Card, Form, FormField, Link, Row, Screen};

    fn drawn(desk: Desk, screen: Screen) -> ScreenView {
        let base = ScreenBase::new(desk, "points");
        ScreenView::of(
            screen,
            &Drawing {
                base: &base,
                here: "/p/points/mall",
                said: None,
                error: None,
                posted: None,
            },
        )
    }

    fn links_of(view: &ScreenView) -> Vec<String> {
        view.blocks
            .iter()
            .flat_map(|b| match b {
                BlockView::Links { items } => items.iter().map(|l| l.href.clone()).collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    fn link(path: &str) -> Link {
        Link {
            label: path.to_owned(),
            path: path.to_owned(),
            note: String::new(),
        }
    }

    #[test]
    fn plugin_paths_become_its_screens_and_shop_links_the_shops_pages() {
        let screen = Screen::new("t").with(Block::Links {
            items: [
                "/gifts/7",
                "/office?month=2026-01",
                "shop:/products/12",
                "shop:/search?q=安全帽",
                "shop:/cart",
                "shop:/orders/3",
                "shop:/categories",
                "shop:/brands",
            ]
            .map(link)
            .to_vec(),
        });
        assert_eq!(
            links_of(&drawn(Desk::Phone, screen.clone())),
            [
                "/p/points/gifts/7",
                "/p/points/office?month=2026-01",
                "/products/12",
                "/search?q=安全帽",
                "/cart",
                "/orders/3",
                "/categories",
                "/brands",
            ]
        );
        let office = links_of(&drawn(Desk::Office, screen));
        assert_eq!(
            office.first().map(String::as_str),
            Some("/admin/p/points/gifts/7")
        );
        assert_eq!(office.get(2).map(String::as_str), Some("/products/12"));
    }

    #[test]
    fn hostile_links_are_dropped_with_what_carried_them() {
        let hostile = [
            "javascript:alert(1)",
            "shop:javascript:alert(1)",
            "//evil.example",
            "shop://evil.example",
            "http://evil.example/",
            "shop:http://evil.example/",
            "/../../admin",
            "/gifts/../../admin",
            "shop:/products/../admin",
            "shop:/admin",
            "shop:/me",
            "shop:/products/",
            "shop:/searchx",
            "gifts/7",
            "/gifts/7\" onclick=\"x",
            "/a b",
            "",
        ];
        let screen = Screen::new("t")
            .with(Block::Links {
                items: hostile.map(link).to_vec(),
            })
            .with(Block::Table {
                title: String::new(),
                columns: vec!["a".to_owned()],
                rows: hostile
                    .iter()
                    .map(|l| Row {
                        cells: vec!["x".to_owned()],
                        link: Some((*l).to_owned()),
                        actions: vec![Action::post("删", *l)],
                    })
                    .collect(),
                empty: String::new(),
            })
            .with(Block::Cards {
                title: String::new(),
                items: vec![Card {
                    image: Some("https://evil.example/a.png".to_owned()),
                    title: "卡".to_owned(),
                    link: Some("javascript:alert(1)".to_owned()),
                    ..Card::default()
                }],
                empty: String::new(),
            })
            .with(Block::Form(Form {
                title: String::new(),
                action: "https://evil.example/steal".to_owned(),
                fields: Vec::new(),
                submit: "发送".to_owned(),
                back: String::new(),
            }));
        let view = drawn(Desk::Phone, screen);
        assert!(links_of(&view).is_empty(), "{:?}", links_of(&view));
        let json = serde_json::to_string(&view).unwrap_or_default();
        for bad in ["javascript", "evil", "/admin"] {
            assert!(!json.contains(bad), "{bad} in {json}");
        }
        // The rows stay (their text is the plugin's), without links or buttons; the form that
        // would post elsewhere is not drawn at all.
        assert!(view.blocks.iter().all(|b| !matches!(b, BlockView::Form(_))));
        let rows = view.blocks.iter().find_map(|b| match b {
            BlockView::Table { rows, .. } => Some(rows),
            _ => None,
        });
        assert_eq!(rows.map(Vec::len), Some(hostile.len()));
        assert!(
            rows.into_iter()
                .flatten()
                .all(|r| r.href.is_none() && r.actions.is_empty())
        );
    }

    #[test]
    fn only_the_shops_pictures_are_shown() {
        let card = |image: &str| Card {
            image: Some(image.to_owned()),
            title: "卡".to_owned(),
            ..Card::default()
        };
        let view = drawn(
            Desk::Phone,
            Screen::new("t").with(Block::Cards {
                title: String::new(),
                items: vec![
                    card("/api/v1/images/abc.jpg"),
                    card("http://evil.example/a.jpg"),
                    card("/api/v1/images/../uploads/x"),
                ],
                empty: String::new(),
            }),
        );
        let images: Vec<Option<String>> = view
            .blocks
            .iter()
            .flat_map(|b| match b {
                BlockView::Cards { items, .. } => items.iter().map(|c| c.image.clone()).collect(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(
            images,
            [Some("/api/v1/images/abc.jpg".to_owned()), None, None]
        );
    }

    #[test]
    fn a_refused_form_keeps_what_was_typed_and_names_its_field() {
        let form = Form {
            title: String::new(),
            action: "/gifts".to_owned(),
            fields: vec![
                FormField::new("name", "名称", pifa_sdk::FieldKind::Text).value("旧"),
                FormField::new("on_shelf", "上架", pifa_sdk::FieldKind::Checkbox).value("on"),
                FormField::new("csrf_token", "偷", pifa_sdk::FieldKind::Hidden).value("x"),
                FormField::new("starts", "开始", pifa_sdk::FieldKind::Datetime)
                    .value("2026-10-01 08:00"),
            ],
            submit: "保存".to_owned(),
            back: "/office".to_owned(),
        };
        let base = ScreenBase::new(Desk::Office, "points");
        let posted = Posted {
            action: "/admin/p/points/gifts".to_owned(),
            typed: [("name".to_owned(), "新名字".to_owned())].into(),
        };
        let view = ScreenView::of(
            Screen::new("t").with(Block::Form(form)),
            &Drawing {
                base: &base,
                here: "/admin/p/points/office",
                said: None,
                error: Some(ScreenError {
                    code: "plugin_refused".to_owned(),
                    message: "名称已存在".to_owned(),
                    field: Some("name".to_owned()),
                }),
                posted: Some(&posted),
            },
        );
        let Some(BlockView::Form(form)) = view.blocks.first() else {
            panic!("a form: {view:?}");
        };
        assert_eq!(form.action, "/admin/p/points/gifts");
        assert_eq!(form.back, "/admin/p/points/office");
        assert!(form.refused);
        let names: Vec<&str> = form.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["name", "on_shelf", "starts"],
            "the kernel's field dropped"
        );
        assert_eq!(form.fields[0].value, "新名字");
        assert_eq!(form.fields[0].error.as_deref(), Some("名称已存在"));
        assert!(!form.fields[1].checked, "unticked when posted without it");
        assert_eq!(form.fields[2].value, "2026-10-01T08:00");
        assert_eq!(form.fields[2].error, None);
    }

    #[test]
    fn success_goes_back_to_a_screen_of_the_same_plugin_only() {
        let base = ScreenBase::new(Desk::Phone, "points");
        for own in [
            "/p/points/wallet",
            "/admin/p/points/office?status=all",
            "/p/points/gifts/7",
        ] {
            assert!(base.owns(own), "{own}");
        }
        for other in [
            "/p/coupons/wallet",
            "/p/pointsx/wallet",
            "/p/points",
            "/p/points/../../admin",
            "//evil.example/p/points/x",
            "https://evil.example/p/points/x",
            "/admin/settings",
            "/p/points/x y",
        ] {
            assert!(!base.owns(other), "{other}");
        }
    }

    #[test]
    fn texts_are_cleaned_and_lists_cut() {
        let screen = Screen::new("标题\u{202e}gpj.exe\u{0}").with(Block::Table {
            title: String::new(),
            columns: vec!["a".to_owned()],
            rows: vec![Row::default(); MAX_ROWS + 5],
            empty: String::new(),
        });
        let view = drawn(Desk::Phone, screen);
        assert_eq!(view.title, "标题gpj.exe");
        let rows = view.blocks.iter().find_map(|b| match b {
            BlockView::Table { rows, .. } => Some(rows.len()),
            _ => None,
        });
        assert_eq!(rows, Some(MAX_ROWS));
    }
}
