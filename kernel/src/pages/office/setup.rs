//! The shop's set-up in the back office: 设置 (every L3 setting in one form, saved through
//! `settings::put`, which checks the whole document first), 员工 (staff accounts and their
//! roles through `staff`), 区域与自提点 (regions and pickup points through `regions` and
//! `orders::pickup`). A refused form comes back as typed with the refusal by its field.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;

use super::{menu_for, row_form};
use crate::accounts::Role;
use crate::accounts::passwords::Hasher;
use crate::accounts::permissions::{Actor, Permission};
use crate::accounts::sessions::ClientInfo;
use crate::edge::extract::{Path, Query};
use crate::edge::json::ApiJson;
use crate::error::ApiError;
use crate::orders::pickup::PickupPointInput;
use crate::pages::fields::Fields;
use crate::pages::{Page, Visit};
use crate::regions::RegionInput;
use crate::settings::{AreaRate, MoqRule, Rate, Settings, ShopMode, Themes};
use crate::shop::Shop;
use crate::staff::{NewStaff, PasswordReset, StaffPatch, StaffQuery};
use crate::themes::office::RowError;
use crate::themes::office::setup::{
    Choice, OfficeRegionsView, OfficeSettingsView, OfficeStaffView, PointRow, SPARE_AREAS,
};
use crate::themes::views::FormError;

// ---- 设置 -----------------------------------------------------------------------------------

async fn settings_view(
    shop: &Shop,
    themes: &Themes,
    actor: Actor,
    error: Option<FormError>,
    typed: Option<BTreeMap<String, String>>,
) -> Result<OfficeSettingsView, ApiError> {
    let menu = menu_for(&actor, "settings")?;
    let settings = crate::settings::get(State(shop.clone()), actor).await?.0;
    let services = shop
        .store
        .accounts()
        .list_staff(&crate::accounts::users::StaffFilter::default())
        .await?
        .iter()
        .filter(|user| !user.disabled && user.has(Permission::BackUpManagers))
        .map(|user| Choice {
            id: user.id,
            name: user.name.clone(),
        })
        .collect();
    let area_rows = settings.shipping.areas.len() + SPARE_AREAS;
    let mut installed = themes.0.installed();
    installed.sort();
    Ok(OfficeSettingsView {
        menu,
        settings,
        themes: installed,
        services,
        area_rows,
        error,
        typed,
    })
}

/// `GET /admin/settings`: every setting, as saved.
pub async fn settings(
    State(shop): State<Shop>,
    State(themes): State<Themes>,
    visit: Visit,
) -> Page {
    let view = async { settings_view(&shop, &themes, visit.actor()?, None, None).await }.await;
    visit.show(view)
}

/// The settings the form describes, over `current` (the fields the form does not carry stay
/// as they are). Amounts are typed in yuan; an empty optional number is none.
fn settings_from(form: &Fields, current: Settings) -> Result<Settings, ApiError> {
    let text = |name: &str| form.text(name).to_owned();
    let optional_text = |name: &str| Some(text(name)).filter(|t| !t.is_empty());
    let mut areas = Vec::new();
    for i in 0..current.shipping.areas.len() + SPARE_AREAS {
        let province = text(&format!("area_province_{i}"));
        if province.is_empty() {
            continue;
        }
        areas.push(AreaRate {
            province,
            city: optional_text(&format!("area_city_{i}")),
            first_kg_fen: form.yuan(&format!("area_first_{i}"))?,
            extra_kg_fen: form.yuan(&format!("area_extra_{i}"))?,
        });
    }
    let mut settings = Settings {
        shop_name: text("shop_name"),
        logo_url: optional_text("logo_url"),
        introduction: form.raw("introduction").trim().to_owned(),
        service_qr_url: optional_text("service_qr_url"),
        service_phone: optional_text("service_phone"),
        shop_mode: match form.text("shop_mode") {
            "open" => ShopMode::Open,
            _ => ShopMode::Internal,
        },
        single_page: form.ticked("single_page"),
        require_profile: form.ticked("require_profile"),
        fallback_customer_service_id: form.optional_integer("fallback_customer_service_id")?,
        confirm_timeout_hours: form.integer("confirm_timeout_hours")?,
        payment_timeout_hours: form.integer("payment_timeout_hours")?,
        auto_receive_days: form.integer("auto_receive_days")?,
        moq_rule: match form.text("moq_rule") {
            "round_up" => MoqRule::RoundUp,
            _ => MoqRule::Reject,
        },
        backup_interval_hours: form.optional_integer("backup_interval_hours")?,
        backups_kept: form.integer("backups_kept")?,
        max_price_percent: form.integer("max_price_percent")?,
        theme: optional_text("theme"),
        ..current
    };
    let methods = &mut settings.payment_methods;
    for (name, enabled) in [
        ("pm.cash_on_delivery", &mut methods.cash_on_delivery),
        ("pm.bank_transfer", &mut methods.bank_transfer),
        ("pm.pay_before_shipping", &mut methods.pay_before_shipping),
        ("pm.wechat_transfer", &mut methods.wechat_transfer),
        ("pm.alipay_transfer", &mut methods.alipay_transfer),
        ("pm.carrier_collect", &mut methods.carrier_collect),
        ("pm.monthly_settlement", &mut methods.monthly_settlement),
        ("pm.online", &mut methods.online),
    ] {
        *enabled = form.ticked(name);
    }
    let delivery = &mut settings.delivery;
    for (name, enabled) in [
        ("delivery.ship", &mut delivery.ship),
        ("delivery.pickup", &mut delivery.pickup),
        ("delivery.ship_to_terminal", &mut delivery.ship_to_terminal),
    ] {
        *enabled = form.ticked(name);
    }
    settings.bank_account.bank_name = text("bank_name");
    settings.bank_account.account_name = text("account_name");
    settings.bank_account.account_number = text("account_number");
    settings.shipping.default_rate = Rate {
        first_kg_fen: form.yuan("first_kg")?,
        extra_kg_fen: form.yuan("extra_kg")?,
    };
    settings.shipping.free_from_fen = form.optional_yuan("free_from")?;
    settings.shipping.areas = areas;
    Ok(settings)
}

/// `POST /admin/settings/picture/{field}` (`logo_url` or `service_qr_url`; a multipart form
/// with `file`): a new logo or service QR code, stored as a picture of the shop's and set
/// through `settings::put` with every other setting as it is; back to the settings, or the
/// settings with the refusal.
pub async fn setting_picture(
    State(shop): State<Shop>,
    State(themes): State<Themes>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<String>, ApiError>,
    request: axum::extract::Request,
) -> Page {
    let outcome = async {
        let actor = visit.actor()?;
        menu_for(&actor, "settings")?;
        let Path(field) = path?;
        let field = ["logo_url", "service_qr_url"]
            .into_iter()
            .find(|f| *f == field)
            .ok_or_else(ApiError::not_found)?;
        let saved = async {
            let picture = super::picture_of(&shop, &actor, request, field).await?;
            let mut settings = crate::settings::get(State(shop.clone()), actor.clone())
                .await?
                .0;
            if field == "logo_url" {
                settings.logo_url = Some(picture.url);
            } else {
                settings.service_qr_url = Some(picture.url);
            }
            put_settings(&shop, &themes, &actor, client, &settings).await
        }
        .await;
        Ok((actor, saved))
    }
    .await;
    settings_saved(&visit, &shop, &themes, outcome, None).await
}

/// Saves `settings` whole through `settings::put`, as the API's PUT does.
async fn put_settings(
    shop: &Shop,
    themes: &Themes,
    actor: &Actor,
    client: ClientInfo,
    settings: &crate::settings::Settings,
) -> Result<(), ApiError> {
    let json = serde_json::to_vec(settings).map_err(ApiError::internal)?;
    crate::settings::put(
        State(shop.clone()),
        State(themes.clone()),
        actor.clone(),
        client,
        Bytes::from(json),
    )
    .await
    .map(drop)
}

/// The answer to a settings form: back to the settings, or them again with the refusal and
/// what was typed.
async fn settings_saved(
    visit: &Visit,
    shop: &Shop,
    themes: &Themes,
    outcome: Result<(Actor, Result<(), ApiError>), ApiError>,
    typed: Option<std::collections::BTreeMap<String, String>>,
) -> Page {
    match outcome {
        Err(error) => visit.show::<OfficeSettingsView>(Err(error)),
        Ok((_, Ok(()))) => visit.redirect("/admin/settings?notice=settings_saved"),
        Ok((actor, Err(error))) => {
            let refused = FormError::of("settings", &error);
            match settings_view(shop, themes, actor, Some(refused), typed).await {
                Ok(view) => visit.show_with(error.status, &view),
                Err(_) => visit.show::<OfficeSettingsView>(Err(error)),
            }
        }
    }
}

/// `POST /admin/settings`: the whole form, checked as one document by `settings::put`;
/// back to the settings, or the form as typed with the refusal.
pub async fn save_settings(
    State(shop): State<Shop>,
    State(themes): State<Themes>,
    visit: Visit,
    client: ClientInfo,
    body: Bytes,
) -> Page {
    let form = Fields::parse(&body);
    let outcome = async {
        let actor = visit.actor()?;
        menu_for(&actor, "settings")?;
        let current = crate::settings::get(State(shop.clone()), actor.clone())
            .await?
            .0;
        let saved = async {
            let settings = settings_from(&form, current)?;
            put_settings(&shop, &themes, &actor, client, &settings).await
        }
        .await;
        Ok((actor, saved))
    }
    .await;
    settings_saved(&visit, &shop, &themes, outcome, Some(form.typed())).await
}

// ---- 员工 -----------------------------------------------------------------------------------

async fn staff_view(
    shop: &Shop,
    actor: Actor,
    error: Option<RowError>,
    typed: BTreeMap<String, String>,
) -> Result<OfficeStaffView, ApiError> {
    let menu = menu_for(&actor, "staff")?;
    let staff = crate::staff::list(State(shop.clone()), actor, Query(StaffQuery::default()))
        .await?
        .0;
    Ok(OfficeStaffView {
        menu,
        staff,
        roles: Role::ALL.into_iter().filter(|r| r.is_staff()).collect(),
        regions: shop.store.regions().list_regions().await?,
        error,
        typed,
    })
}

/// `GET /admin/staff`: every staff account.
pub async fn staff(State(shop): State<Shop>, visit: Visit) -> Page {
    let view = async { staff_view(&shop, visit.actor()?, None, BTreeMap::new()).await }.await;
    visit.show(view)
}

/// The roles ticked on a staff form (`roles`), those the form names that exist.
fn roles_of(form: &Fields) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|role| form.values("roles").any(|v| v == role.as_str()))
        .collect()
}

/// `POST /admin/staff`: a new account (`name`, `phone`, `password`, `roles`, `region_ids`,
/// `vehicle_plate`) through `staff::create`.
pub async fn add_staff(
    State(shop): State<Shop>,
    State(hasher): State<Hasher>,
    visit: Visit,
    client: ClientInfo,
    body: Bytes,
) -> Page {
    let form = Fields::parse(&body);
    let outcome = async {
        let actor = visit.actor()?;
        menu_for(&actor, "staff")?;
        let input = NewStaff {
            name: form.text("name").to_owned(),
            phone: form.text("phone").to_owned(),
            password: form.raw("password").to_owned(),
            roles: roles_of(&form),
            region_ids: form.integers("region_ids"),
            vehicle_plate: Some(form.text("vehicle_plate").to_owned()).filter(|p| !p.is_empty()),
        };
        let done = crate::staff::create(
            State(shop.clone()),
            State(hasher),
            actor.clone(),
            client,
            ApiJson(input),
        )
        .await
        .map(|(_, made)| format!("/admin/staff?notice=staff_added#staff-{}", made.id))
        .map_err(|error| ("new", error));
        Ok((actor, 0, done))
    }
    .await;
    let mut typed = form.typed();
    typed.remove("password");
    row_form(&visit, outcome, |actor, refused| async move {
        staff_view(&shop, actor, Some(refused), typed).await
    })
    .await
}

/// `POST /admin/staff/{id}/{action}`: `edit` (`name`, `roles`, `region_ids`,
/// `vehicle_plate`), `password` (`new_password`), `disable` or `enable`, each through its
/// `staff` handler; back to the list, or the list with the refusal by that account.
pub async fn staff_action(
    State(shop): State<Shop>,
    State(hasher): State<Hasher>,
    visit: Visit,
    client: ClientInfo,
    path: Result<Path<(i64, String)>, ApiError>,
    body: Bytes,
) -> Page {
    let form = Fields::parse(&body);
    let outcome = async {
        let actor = visit.actor()?;
        let Path((id, action)) = path.map_err(|_| ApiError::not_found())?;
        let state = State(shop.clone());
        let (form_name, done) = match action.as_str() {
            "edit" => (
                "edit",
                crate::staff::update(
                    state,
                    actor.clone(),
                    client,
                    Path(id),
                    ApiJson(StaffPatch {
                        name: Some(form.text("name").to_owned()),
                        roles: Some(roles_of(&form)),
                        region_ids: Some(form.integers("region_ids")),
                        vehicle_plate: Some(form.text("vehicle_plate").to_owned()),
                    }),
                )
                .await
                .map(|_| "staff_saved"),
            ),
            "password" => (
                "password",
                crate::staff::reset_password(
                    state,
                    State(hasher),
                    actor.clone(),
                    client,
                    Path(id),
                    ApiJson(PasswordReset {
                        new_password: form.raw("new_password").to_owned(),
                    }),
                )
                .await
                .map(|_| "password_reset"),
            ),
            "disable" => (
                "state",
                crate::staff::disable(state, actor.clone(), client, Path(id))
                    .await
                    .map(|_| "staff_disabled"),
            ),
            "enable" => (
                "state",
                crate::staff::enable(state, actor.clone(), client, Path(id))
                    .await
                    .map(|_| "staff_enabled"),
            ),
            _ => return Err(ApiError::not_found()),
        };
        let done = done
            .map(|notice| format!("/admin/staff?notice={notice}#staff-{id}"))
            .map_err(|error| (form_name, error));
        Ok((actor, id, done))
    }
    .await;
    let mut typed = form.typed();
    typed.remove("new_password");
    row_form(&visit, outcome, |actor, refused| async move {
        staff_view(&shop, actor, Some(refused), typed).await
    })
    .await
}

// ---- 区域与自提点 ---------------------------------------------------------------------------

async fn regions_view(
    shop: &Shop,
    actor: Actor,
    error: Option<RowError>,
    typed: BTreeMap<String, String>,
) -> Result<OfficeRegionsView, ApiError> {
    let menu = menu_for(&actor, "regions")?;
    let points = crate::orders::pickup::list(State(shop.clone()), actor)
        .await?
        .0;
    let assigned = shop.store.orders().pickup_verifiers().await?;
    let verifiers = shop
        .store
        .accounts()
        .list_staff(&crate::accounts::users::StaffFilter {
            role: Some(Role::Verifier),
            ..Default::default()
        })
        .await?
        .iter()
        .filter(|user| !user.disabled)
        .map(|user| Choice {
            id: user.id,
            name: user.name.clone(),
        })
        .collect();
    Ok(OfficeRegionsView {
        menu,
        regions: shop.store.regions().list_regions().await?,
        points: points
            .into_iter()
            .map(|point| PointRow {
                verifier_ids: assigned
                    .iter()
                    .filter(|(point_id, _)| *point_id == point.id)
                    .map(|(_, user_id)| *user_id)
                    .collect(),
                point,
            })
            .collect(),
        verifiers,
        error,
        typed,
    })
}

/// `GET /admin/regions`: the regions and the pickup points.
pub async fn regions(State(shop): State<Shop>, visit: Visit) -> Page {
    let view = async { regions_view(&shop, visit.actor()?, None, BTreeMap::new()).await }.await;
    visit.show(view)
}

/// `POST /admin/regions` (`name`, and `id` to rename one): through `regions::create` or
/// `regions::rename`.
pub async fn save_region(
    State(shop): State<Shop>,
    visit: Visit,
    client: ClientInfo,
    body: Bytes,
) -> Page {
    let form = Fields::parse(&body);
    let outcome = async {
        let actor = visit.actor()?;
        menu_for(&actor, "regions")?;
        let id = form.optional_integer("id")?;
        let input = ApiJson(RegionInput {
            name: form.text("name").to_owned(),
        });
        let state = State(shop.clone());
        let done = match id {
            None => crate::regions::create(state, actor.clone(), client, input)
                .await
                .map(|_| ()),
            Some(id) => crate::regions::rename(state, actor.clone(), client, Path(id), input)
                .await
                .map(|_| ()),
        };
        let done = done
            .map(|()| "/admin/regions?notice=region_saved".to_owned())
            .map_err(|error| ("region", error));
        Ok((actor, id.unwrap_or(0), done))
    }
    .await;
    let typed = form.typed();
    row_form(&visit, outcome, |actor, refused| async move {
        regions_view(&shop, actor, Some(refused), typed).await
    })
    .await
}

/// `POST /admin/pickup-points` (`name`, `address`, `map_url`, `phone`, `region_id`,
/// `verifier_ids`, and `id` to change one): through `orders::pickup::create` or `update`.
pub async fn save_point(State(shop): State<Shop>, visit: Visit, body: Bytes) -> Page {
    let form = Fields::parse(&body);
    let outcome = async {
        let actor = visit.actor()?;
        menu_for(&actor, "regions")?;
        let id = form.optional_integer("id")?;
        let done = async {
            let input = ApiJson(PickupPointInput {
                name: form.text("name").to_owned(),
                address: form.text("address").to_owned(),
                map_url: form.text("map_url").to_owned(),
                phone: form.text("phone").to_owned(),
                region_id: form.optional_integer("region_id")?,
                verifier_ids: form.integers("verifier_ids"),
            });
            let state = State(shop.clone());
            match id {
                None => crate::orders::pickup::create(state, actor.clone(), input)
                    .await
                    .map(drop),
                Some(id) => crate::orders::pickup::update(state, actor.clone(), Path(id), input)
                    .await
                    .map(drop),
            }
        }
        .await;
        let done = done
            .map(|()| "/admin/regions?notice=point_saved#points".to_owned())
            .map_err(|error| ("point", error));
        Ok((actor, id.unwrap_or(0), done))
    }
    .await;
    let typed = form.typed();
    row_form(&visit, outcome, |actor, refused| async move {
        regions_view(&shop, actor, Some(refused), typed).await
    })
    .await
}
