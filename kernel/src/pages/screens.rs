//! Plugins' screens (capability `screens`): `GET /p/{plugin}/{*path}` in the phone app and
//! `GET /admin/p/{plugin}/{*path}` in the back office draw the `pifa_sdk::Screen` the plugin's
//! `GET /{path}` answers, through the theme's `screen.html`; their forms post to
//! `POST /p/{plugin}/{*path}` (and `/admin/p/…`), which sends the fields to the plugin's
//! `POST /{path}` as a JSON object of strings.
//!
//! Every call goes through `pages::call_plugin`, the plugin host's own route handler, so the
//! route's roles, the grants, the quotas and the answer's checks hold as for the API; and only
//! a route the manifest declares with `screen` is drawn (`plugins::http::screen_route`), so a
//! plain JSON route is never shown as a page. The entries (我的, the back office's menu) come
//! from the serving set on every request (`plugins::http::screen_offers`), with the route's
//! own role check.
//!
//! After a form's success the browser goes (303) to the screen its `_back` names — a screen of
//! the same plugin, else the one the form was on — with what the plugin said. That message is
//! the plugin's free text, so unlike the kernel's `?notice=` codes it travels sealed with the
//! session's CSRF token (HMAC): a link made elsewhere cannot put words on the shop's page.
//! After a refusal the screen the form was on is drawn again with the refusal's words at the
//! top and beside the field it names, the form filled with what was typed.

use std::collections::BTreeMap;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use hmac::{Hmac, KeyInit, Mac};
use pifa_sdk::ScreenPlace;
use serde::Deserialize;
use sha1::Sha1;

use super::{Page, PluginRequest, Visit, call_plugin};
use crate::accounts::permissions::Actor;
use crate::accounts::sessions::ClientInfo;
use crate::edge::extract::{Path, Query};
use crate::error::ApiError;
use crate::plugins::PluginsState;
use crate::text::{PluginText, from_plugin};
use crate::themes::office::MenuEntry;
use crate::themes::screens::{
    BACK_FIELD, CSRF_FIELD, Desk, Drawing, OfficeScreenView, Posted, SCREEN_FIELD, ScreenBase,
    ScreenError, ScreenView,
};
use crate::themes::views::ScreenLink;

/// The query keys that carry a success's words to the next screen, and their seal.
const SAID: &str = "_said";
const SEAL: &str = "_seal";

/// The entries the frame carries (`Frame::screens`): in the back office the screens placed
/// there; on the storefront those placed on 我的 and, for staff, the back office's (drawn on
/// the phone).
pub fn entries(plugins: &PluginsState, office: bool, actor: Option<&Actor>) -> Vec<ScreenLink> {
    let set = plugins.plugins.current();
    let (places, desk): (&[ScreenPlace], Desk) = if office {
        (&[ScreenPlace::Office], Desk::Office)
    } else {
        (&[ScreenPlace::Mine, ScreenPlace::Office], Desk::Phone)
    };
    crate::plugins::http::screen_offers(&set, places, actor)
        .into_iter()
        .filter_map(|offer| {
            Some(ScreenLink {
                href: ScreenBase::new(desk, &offer.plugin).href(&offer.path)?,
                plugin: offer.plugin,
                label: offer.label,
                place: match offer.place {
                    ScreenPlace::Mine => "mine",
                    ScreenPlace::Office => "office",
                    ScreenPlace::Linked => "linked",
                },
            })
        })
        .collect()
}

/// A screen to draw: whose and which (the plugin's path and query), and what the last form
/// left.
struct Wanted {
    base: ScreenBase,
    /// The plugin's route path (`/office`).
    path: String,
    query: BTreeMap<String, String>,
    said: Option<String>,
    refusal: Option<(ScreenError, Posted)>,
}

impl Wanted {
    /// This screen's own address, with the query the plugin was asked with.
    fn here(&self) -> String {
        let mut here = format!(
            "{}/{}{}",
            self.base.desk.prefix(),
            self.base.plugin,
            self.path
        );
        if !self.query.is_empty() {
            here.push('?');
            here.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&self.query)
                    .finish(),
            );
        }
        here
    }
}

/// The plugin's screen at `wanted`, asked as the caller: 404 for a path that is no screen
/// route of a serving plugin granted `screens`; the kernel's refusals and the plugin's as
/// they come; 502 `plugin_failed` for an answer that is not a screen.
async fn screen_view(
    plugins: &PluginsState,
    actor: Option<Actor>,
    client: &ClientInfo,
    wanted: &Wanted,
) -> Result<ScreenView, ApiError> {
    let plugin = wanted.base.plugin.as_str();
    {
        let set = plugins.plugins.current();
        let loaded = set.named(plugin).ok_or_else(ApiError::not_found)?;
        crate::plugins::http::screen_route(loaded, &wanted.path).ok_or_else(ApiError::not_found)?;
    }
    let answer = call_plugin(
        plugins,
        actor,
        client,
        PluginRequest {
            query: wanted.query.clone(),
            ..PluginRequest::get(plugin, &wanted.path)
        },
    )
    .await?;
    let screen: pifa_sdk::Screen = serde_json::from_value(answer).map_err(|error| {
        tracing::warn!(plugin, path = %wanted.path, %error, "a screen route answered no screen");
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "plugin_failed",
            format!("插件页面无法显示 (plugin {plugin} answered no screen)"),
        )
    })?;
    let here = wanted.here();
    let (error, posted) = match &wanted.refusal {
        Some((error, posted)) => (Some(error.clone()), Some(posted)),
        None => (None, None),
    };
    Ok(ScreenView::of(
        screen,
        &Drawing {
            base: &wanted.base,
            here: &here,
            said: wanted.said.clone(),
            error,
            posted,
        },
    ))
}

/// A screen the plugin itself refused to show (a record it does not have, a member it does
/// not serve): the page with its words and no blocks.
fn refused_view(wanted: &Wanted, error: &ApiError) -> ScreenView {
    let here = wanted.here();
    ScreenView::of(
        pifa_sdk::Screen::default(),
        &Drawing {
            base: &wanted.base,
            here: &here,
            said: None,
            error: Some(screen_error(error)),
            posted: None,
        },
    )
}

fn screen_error(error: &ApiError) -> ScreenError {
    ScreenError {
        code: error.code.to_owned(),
        message: from_plugin(&error.message, PluginText::MemberMessage),
        field: error.field.clone(),
    }
}

/// Whether a refusal is the plugin's own answer (a 4xx it chose), which its screen shows,
/// rather than the kernel's refusal of the caller (sign in, not his, no such screen).
fn plugin_refused(error: &ApiError) -> bool {
    error.code == "plugin_refused" && error.status.is_client_error()
}

/// The page: the screen in the desk's template (the office's with its menu), or the refusal.
fn present(
    visit: &Visit,
    menu: Option<Vec<MenuEntry>>,
    status: StatusCode,
    view: Result<ScreenView, ApiError>,
) -> Page {
    match (view, menu) {
        (Ok(screen), Some(menu)) => visit.show_with(status, &OfficeScreenView { menu, screen }),
        (Ok(screen), None) => visit.show_with(status, &screen),
        (Err(error), _) => visit.show::<ScreenView>(Err(error)),
    }
}

/// The office's menu for a back-office screen (403 for someone with no back office), none in
/// the phone app.
fn menu_of(desk: Desk, actor: Option<&Actor>) -> Result<Option<Vec<MenuEntry>>, ApiError> {
    match desk {
        Desk::Phone => Ok(None),
        Desk::Office => {
            let actor = actor.ok_or_else(ApiError::unauthenticated)?;
            super::office::menu(actor).map(Some)
        }
    }
}

/// The words a success sent along, when their seal is this session's.
fn unsealed(visit: &Visit, query: &mut BTreeMap<String, String>) -> Option<String> {
    let said = query.remove(SAID);
    let seal = query.remove(SEAL);
    let key = visit.frame.csrf_token.as_deref()?;
    let (said, seal) = (said?, hex::decode(seal?).ok()?);
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).ok()?;
    mac.update(said.as_bytes());
    mac.verify_slice(&seal).ok()?;
    Some(said)
}

/// `said` sealed with this session's key, as the query a success redirects with.
fn sealed(visit: &Visit, said: &str) -> Option<String> {
    let key = visit.frame.csrf_token.as_deref()?;
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).ok()?;
    mac.update(said.as_bytes());
    let seal = hex::encode(mac.finalize().into_bytes());
    Some(
        form_urlencoded::Serializer::new(String::new())
            .append_pair(SAID, said)
            .append_pair(SEAL, &seal)
            .finish(),
    )
}

/// Which screen a `GET` names: the plugin, its path, and the query.
struct Target {
    plugin: String,
    rest: String,
    query: BTreeMap<String, String>,
}

impl Target {
    fn of(
        path: Result<Path<(String, String)>, ApiError>,
        query: Result<Query<BTreeMap<String, String>>, ApiError>,
    ) -> Result<Target, ApiError> {
        let Path((plugin, rest)) = path?;
        let Query(query) = query?;
        Ok(Target {
            plugin,
            rest,
            query,
        })
    }
}

async fn show(
    plugins: PluginsState,
    visit: Visit,
    client: ClientInfo,
    desk: Desk,
    target: Result<Target, ApiError>,
) -> Page {
    let drawn = async {
        let actor = visit.caller()?;
        let menu = menu_of(desk, actor.as_ref())?;
        let Target {
            plugin,
            rest,
            mut query,
        } = target?;
        let said = unsealed(&visit, &mut query);
        let wanted = Wanted {
            base: ScreenBase::new(desk, &plugin),
            path: format!("/{rest}"),
            query,
            said,
            refusal: None,
        };
        let view = screen_view(&plugins, actor.clone(), &client, &wanted).await;
        Ok::<_, ApiError>((menu, wanted, actor, view))
    }
    .await;
    match drawn {
        Err(error) => present(&visit, None, StatusCode::OK, Err(error)),
        Ok((menu, _, _, Ok(view))) => present(&visit, menu, StatusCode::OK, Ok(view)),
        // A visitor the plugin wants signed in goes to sign in, as for any page.
        Ok((menu, wanted, actor, Err(error)))
            if plugin_refused(&error)
                && !(actor.is_none()
                    && matches!(
                        error.status,
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                    )) =>
        {
            present(
                &visit,
                menu,
                error.status,
                Ok(refused_view(&wanted, &error)),
            )
        }
        Ok((_, _, _, Err(error))) => present(&visit, None, StatusCode::OK, Err(error)),
    }
}

/// `GET /p/{plugin}/{*path}`: a plugin's screen in the phone app.
pub async fn phone(
    State(plugins): State<PluginsState>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<(String, String)>, ApiError>,
    query: Result<Query<BTreeMap<String, String>>, ApiError>,
) -> Page {
    show(plugins, visit, client, Desk::Phone, Target::of(path, query)).await
}

/// `GET /admin/p/{plugin}/{*path}`: a plugin's screen in the back office.
pub async fn office(
    State(plugins): State<PluginsState>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<(String, String)>, ApiError>,
    query: Result<Query<BTreeMap<String, String>>, ApiError>,
) -> Page {
    show(
        plugins,
        visit,
        client,
        Desk::Office,
        Target::of(path, query),
    )
    .await
}

/// A posted form's fields as typed, the last of a name sent several times (the theme's
/// forms send each once), with the kernel's own fields taken out: url-encoded or multipart.
async fn posted_fields(request: Request) -> Result<BTreeMap<String, String>, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = super::form_body(request.into_body(), super::FORM_LIMIT_BYTES).await?;
    let mut fields: BTreeMap<String, String> =
        if content_type.starts_with("application/x-www-form-urlencoded") {
            form_urlencoded::parse(&bytes).into_owned().collect()
        } else if content_type.starts_with("multipart/form-data") {
            super::multipart_texts(&content_type, bytes).await
        } else {
            return Err(ApiError::bad_request(
                "invalid_input",
                "表单无法读取 (a form expected)",
            ));
        };
    fields.remove(CSRF_FIELD);
    Ok(fields)
}

/// A screen address of `base`'s plugin on `base`'s desk, split into the plugin's path and
/// query (`/p/points/office?status=all` → `/office`, `status=all`).
fn own_screen(base: &ScreenBase, href: &str) -> Option<(String, BTreeMap<String, String>)> {
    let rest = href
        .strip_prefix(base.desk.prefix())?
        .strip_prefix('/')?
        .strip_prefix(base.plugin.as_str())?;
    if !crate::themes::screens::is_plugin_path(rest) {
        return None;
    }
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let query = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    Some((path.to_owned(), query))
}

/// What a route's success may say (`{"message": "已保存"}`); anything else says nothing.
#[derive(Debug, Default, Deserialize)]
struct Answer {
    #[serde(default)]
    message: Option<String>,
}

async fn post(
    plugins: PluginsState,
    visit: Visit,
    client: ClientInfo,
    desk: Desk,
    path: Result<Path<(String, String)>, ApiError>,
    request: Request,
) -> Page {
    let action = match request.uri().query() {
        Some(query) => format!("{}?{query}", request.uri().path()),
        None => request.uri().path().to_owned(),
    };
    let query: BTreeMap<String, String> =
        form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let start = async {
        let actor = visit.actor()?;
        let menu = menu_of(desk, Some(&actor))?;
        let Path((plugin, rest)) = path?;
        let fields = posted_fields(request).await?;
        Ok::<_, ApiError>((actor, menu, plugin, rest, fields))
    }
    .await;
    let (actor, menu, plugin, rest, mut fields) = match start {
        Ok(start) => start,
        Err(error) => return present(&visit, None, StatusCode::OK, Err(error)),
    };
    let base = ScreenBase::new(desk, &plugin);
    let back = fields.remove(BACK_FIELD).unwrap_or_default();
    let screen = fields.remove(SCREEN_FIELD).unwrap_or_default();
    let body = serde_json::Value::Object(
        fields
            .iter()
            .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
            .collect(),
    );
    let answer = async {
        let body = serde_json::to_vec(&body).map_err(ApiError::internal)?;
        call_plugin(
            &plugins,
            Some(actor.clone()),
            &client,
            PluginRequest {
                method: axum::http::Method::POST,
                plugin: &plugin,
                path: &format!("/{rest}"),
                query,
                body: body.into(),
            },
        )
        .await
    }
    .await;
    match answer {
        Ok(answer) => {
            let to = [back.as_str(), screen.as_str()]
                .into_iter()
                .find(|href| base.owns(href))
                .map(str::to_owned)
                .unwrap_or_else(|| match desk {
                    Desk::Phone => "/me".to_owned(),
                    Desk::Office => "/admin".to_owned(),
                });
            let said = serde_json::from_value::<Answer>(answer)
                .unwrap_or_default()
                .message
                .map(|m| from_plugin(&m, PluginText::MemberMessage))
                .filter(|m| !m.is_empty());
            let to = match said.as_deref().and_then(|said| sealed(&visit, said)) {
                Some(said) => {
                    let separator = if to.contains('?') { '&' } else { '?' };
                    format!("{to}{separator}{said}")
                }
                None => to,
            };
            visit.redirect(&to)
        }
        Err(error) if error.status.is_client_error() && !kernel_refusal_of_caller(&error) => {
            // The screen the form is on, drawn again with the refusal and what was typed.
            let Some((path, query)) = own_screen(&base, &screen) else {
                return present(&visit, None, StatusCode::OK, Err(error));
            };
            let wanted = Wanted {
                base,
                path,
                query,
                said: None,
                refusal: Some((
                    screen_error(&error),
                    Posted {
                        action,
                        typed: fields,
                    },
                )),
            };
            match screen_view(&plugins, Some(actor), &client, &wanted).await {
                Ok(view) => present(&visit, menu, error.status, Ok(view)),
                Err(other) => present(&visit, None, StatusCode::OK, Err(other)),
            }
        }
        Err(error) => present(&visit, None, StatusCode::OK, Err(error)),
    }
}

/// The kernel refusing the caller the route (sign in, not his roles, no such route): its
/// error page, not the form again.
fn kernel_refusal_of_caller(error: &ApiError) -> bool {
    !plugin_refused(error)
        && matches!(
            error.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
        )
}

/// `POST /p/{plugin}/{*path}`: a screen's form or button in the phone app.
pub async fn phone_post(
    State(plugins): State<PluginsState>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<(String, String)>, ApiError>,
    request: Request,
) -> Page {
    post(plugins, visit, client, Desk::Phone, path, request).await
}

/// `POST /admin/p/{plugin}/{*path}`: a screen's form or button in the back office.
pub async fn office_post(
    State(plugins): State<PluginsState>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<(String, String)>, ApiError>,
    request: Request,
) -> Page {
    post(plugins, visit, client, Desk::Office, path, request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_form_is_drawn_again_unless_the_kernel_refused_the_caller() {
        let plugin = |status| ApiError::new(status, "plugin_refused", "名称不能为空");
        assert!(!kernel_refusal_of_caller(&plugin(StatusCode::NOT_FOUND)));
        assert!(!kernel_refusal_of_caller(&plugin(StatusCode::FORBIDDEN)));
        assert!(kernel_refusal_of_caller(&ApiError::forbidden()));
        assert!(kernel_refusal_of_caller(&ApiError::not_found()));
        assert!(kernel_refusal_of_caller(&ApiError::unauthenticated()));
        assert!(!kernel_refusal_of_caller(&ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "请求过于频繁"
        )));
    }

    #[test]
    fn only_this_plugins_screens_on_this_desk_are_drawn_again() {
        let base = ScreenBase::new(Desk::Office, "coupons");
        let (path, query) =
            own_screen(&base, "/admin/p/coupons/templates/3?tab=issue").unwrap_or_default();
        assert_eq!(path, "/templates/3");
        assert_eq!(query.get("tab").map(String::as_str), Some("issue"));
        for other in [
            "/p/coupons/templates/3",
            "/admin/p/points/office",
            "/admin/p/coupons/../../settings",
            "",
        ] {
            assert!(own_screen(&base, other).is_none(), "{other}");
        }
    }
}
