//! Screens: a plugin's pages for members and staff, drawn by the active theme (capability
//! `screens`). A `GET` route with [`Route::screen`](crate::Route) answers a [`Screen`] (its
//! blocks in order); the kernel serves it at `/p/<plugin><path>` in the phone app (the
//! storefront theme's `screen.html`) and at `/admin/p/<plugin><path>` in the back office (the
//! office theme's), through the same route, roles and caller as the API. The theme draws every
//! block; the plugin never writes HTML, so it cannot put script, styles or links off the shop
//! on a page.
//!
//! A [`Form`] or an [`Action`] posts to one of the plugin's `POST` routes (its `action`, a path
//! of this plugin with the parameters filled in): the kernel checks the session's CSRF token,
//! sends the fields as a JSON object of strings (a checkbox as `"on"` when ticked; read them
//! with [`crate::input::Fields`], which takes a person's text and the API's numbers alike), and
//! then shows the screen at `back` with the answer's `message` (a 2xx answer's body may say
//! `{"message": "已保存"}`) or, for a refusal, the same screen with the refusal's message
//! beside the field it names.

use serde::{Deserialize, Serialize};

/// Where a screen is entered from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenEntry {
    /// What the entry says: 「我的积分」, 「积分商城」, 「优惠券」.
    pub label: String,
    pub place: ScreenPlace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScreenPlace {
    /// An entry on the phone app's 我的 page for whoever the route's roles admit.
    Mine,
    /// An entry in the back office's menu (and on 我的's staff entries) for those roles.
    Office,
    /// No entry: reached by a link from another screen (a record's detail).
    Linked,
}

/// What a screen route answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Screen {
    pub title: String,
    #[serde(default)]
    pub blocks: Vec<Block>,
}

/// One block of a screen. Every text is plain text (the theme escapes it); every `path` and
/// `action` is a path of this plugin's own routes (`/gifts/7`), never a URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// Figures side by side: 「积分余额 1,280」.
    Figures {
        items: Vec<Figure>,
    },
    /// A paragraph; `tone` colours it.
    Text {
        text: String,
        #[serde(default)]
        tone: Tone,
    },
    /// Rows under column headings; `empty` is said when there are none.
    Table {
        #[serde(default)]
        title: String,
        columns: Vec<String>,
        rows: Vec<Row>,
        #[serde(default)]
        empty: String,
    },
    /// Cards with a picture (gifts, coupons).
    Cards {
        #[serde(default)]
        title: String,
        items: Vec<Card>,
        #[serde(default)]
        empty: String,
    },
    Form(Form),
    /// Buttons, each posting to a route.
    Actions {
        items: Vec<Action>,
    },
    /// Links to other screens of the plugin.
    Links {
        items: Vec<Link>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figure {
    pub label: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    #[default]
    Info,
    Success,
    Warning,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub cells: Vec<String>,
    /// A screen of this plugin the row opens.
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Card {
    /// A picture the shop stored (`/api/v1/images/…`); anything else is not shown.
    #[serde(default)]
    pub image: Option<String>,
    pub title: String,
    #[serde(default)]
    pub lines: Vec<String>,
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Form {
    #[serde(default)]
    pub title: String,
    /// The `POST` route it sends to.
    pub action: String,
    pub fields: Vec<FormField>,
    /// The button: 「保存」.
    pub submit: String,
    /// The screen shown after a success (this one when empty).
    #[serde(default)]
    pub back: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormField {
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub kind: FieldKind,
    /// The value shown (as text: yuan for money, local time for a time).
    #[serde(default)]
    pub value: String,
    /// For `select`.
    #[serde(default)]
    pub options: Vec<Choice>,
    #[serde(default)]
    pub required: bool,
    /// A line under the field: 「每消费1元得1分」.
    #[serde(default)]
    pub help: String,
    #[serde(default)]
    pub placeholder: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    #[default]
    Text,
    Textarea,
    /// A whole number.
    Number,
    /// Yuan with up to two decimals (sent as text; [`crate::input::Fields::fen`] reads it).
    Money,
    /// A local date and time (`datetime-local`).
    Datetime,
    Date,
    Select,
    Checkbox,
    /// A picture URL the shop stored.
    Image,
    Hidden,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

/// A button posting `fields` to the `POST` route `action`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub label: String,
    pub action: String,
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
    /// Asked before it is sent (with JavaScript); 「确定兑换？」.
    #[serde(default)]
    pub confirm: String,
    /// Drawn as a destructive action.
    #[serde(default)]
    pub danger: bool,
    /// The screen shown after a success (the current one when empty).
    #[serde(default)]
    pub back: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub label: String,
    pub path: String,
    #[serde(default)]
    pub note: String,
}

impl Screen {
    pub fn new(title: impl Into<String>) -> Screen {
        Screen {
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    pub fn with(mut self, block: Block) -> Screen {
        self.blocks.push(block);
        self
    }
}

impl Block {
    pub fn text(text: impl Into<String>) -> Block {
        Block::Text {
            text: text.into(),
            tone: Tone::Info,
        }
    }

    pub fn figures(items: &[(&str, String)]) -> Block {
        Block::Figures {
            items: items
                .iter()
                .map(|(label, value)| Figure {
                    label: (*label).to_owned(),
                    value: value.clone(),
                })
                .collect(),
        }
    }
}

impl FormField {
    pub fn new(name: &str, label: &str, kind: FieldKind) -> FormField {
        FormField {
            name: name.to_owned(),
            label: label.to_owned(),
            kind,
            ..FormField::default()
        }
    }

    pub fn value(mut self, value: impl Into<String>) -> FormField {
        self.value = value.into();
        self
    }

    pub fn required(mut self) -> FormField {
        self.required = true;
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> FormField {
        self.help = help.into();
        self
    }
}

impl Action {
    pub fn post(label: &str, action: impl Into<String>) -> Action {
        Action {
            label: label.to_owned(),
            action: action.into(),
            ..Action::default()
        }
    }

    pub fn field(mut self, name: &str, value: impl Into<String>) -> Action {
        self.fields.insert(name.to_owned(), value.into());
        self
    }

    pub fn confirm(mut self, question: &str) -> Action {
        self.confirm = question.to_owned();
        self
    }
}
