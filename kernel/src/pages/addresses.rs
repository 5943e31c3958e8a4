//! 收货地址: my address book, through the address API's own handlers (`addresses::list`,
//! `create`, `update`, `delete`), so its checks (members only, my own addresses, fifty at
//! most, the phone's format) are the API's. Checkout sends a member here with `?back=/checkout`
//! and gets him back once the address is saved.

use axum::body::Bytes;
use axum::extract::State;

use super::{Page, Visit, local_path};
use crate::edge::extract::{Path, Query};
use crate::edge::json::ApiJson;
use crate::error::ApiError;
use crate::members::addresses::{self, Address, AddressInput};
use crate::shop::Shop;
use crate::themes::views::{AddressBookView, AddressTyped, FormError};

#[derive(Debug, Default, serde::Deserialize)]
pub struct Back {
    /// A path of this site to return to once an address is saved.
    pub back: Option<String>,
}

/// `back` as a path of this site, if one was given.
fn back_of(back: Option<&str>) -> Option<String> {
    back.filter(|b| !b.is_empty())
        .map(|b| local_path(b).to_owned())
}

async fn book(
    shop: &Shop,
    visit: &Visit,
    back: Option<String>,
    refused: Option<(Option<i64>, AddressTyped, FormError)>,
) -> Result<AddressBookView, ApiError> {
    let axum::Json(addresses) = addresses::list(State(shop.clone()), visit.actor()?).await?;
    let (refused_id, typed, error) = match refused {
        Some((id, typed, error)) => (id, typed, Some(error)),
        None => (None, AddressTyped::default(), None),
    };
    Ok(AddressBookView {
        addresses,
        back,
        refused_id,
        typed,
        error,
    })
}

/// `GET /me/addresses?back=`: my addresses and the form for a new one.
pub async fn show(State(shop): State<Shop>, visit: Visit, Query(query): Query<Back>) -> Page {
    let view = book(&shop, &visit, back_of(query.back.as_deref()), None).await;
    visit.show(view)
}

/// A posted address form: the fields, and where to go back to.
#[derive(Debug, Default, serde::Deserialize)]
struct AddressForm {
    #[serde(flatten)]
    typed: AddressTyped,
    #[serde(default)]
    back: String,
}

impl AddressTyped {
    fn input(&self) -> AddressInput {
        AddressInput {
            province: self.province.clone(),
            city: self.city.clone(),
            district: self.district.clone(),
            detail: self.detail.clone(),
            contact_name: self.contact_name.clone(),
            phone: self.phone.clone(),
            is_default: self.is_default.is_some(),
        }
    }
}

/// After a form: on to `back` or the book with `notice`, or the book again with the refusal
/// by the form of address `id` (`None`: the new one).
async fn answer<T>(
    shop: &Shop,
    visit: &Visit,
    form: AddressForm,
    id: Option<i64>,
    done: Result<T, ApiError>,
    notice: &str,
) -> Page {
    let back = back_of(Some(&form.back));
    match done {
        Ok(_) => match back {
            Some(back) => visit.redirect(&back),
            None => visit.redirect(&format!("/me/addresses?notice={notice}")),
        },
        Err(error) => {
            let status = error.status;
            let refusal = FormError::of("address", &error);
            match book(shop, visit, back, Some((id, form.typed, refusal))).await {
                Ok(view) => visit.show_with(status, &view),
                Err(other) => visit.show::<AddressBookView>(Err(other)),
            }
        }
    }
}

/// `POST /me/addresses`: a new address through `addresses::create`.
pub async fn create(State(shop): State<Shop>, visit: Visit, body: Bytes) -> Page {
    let form: AddressForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let done = async {
        addresses::create(
            State(shop.clone()),
            visit.actor()?,
            ApiJson(form.typed.input()),
        )
        .await
    }
    .await;
    answer(&shop, &visit, form, None, done, "address_saved").await
}

/// `POST /me/addresses/{id}`: the address changed through `addresses::update`.
pub async fn update(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
    body: Bytes,
) -> Page {
    let form: AddressForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let id = match super::goods::id_of(path) {
        Ok(id) => id,
        Err(error) => return visit.show::<AddressBookView>(Err(error)),
    };
    let done = async {
        addresses::update(
            State(shop.clone()),
            visit.actor()?,
            Path(id),
            ApiJson(form.typed.input()),
        )
        .await
    }
    .await;
    answer(&shop, &visit, form, Some(id), done, "address_saved").await
}

/// `POST /me/addresses/{id}/default`: the address made the default, as it is otherwise.
pub async fn make_default(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
) -> Page {
    let id = match super::goods::id_of(path) {
        Ok(id) => id,
        Err(error) => return visit.show::<AddressBookView>(Err(error)),
    };
    let done = async {
        let actor = visit.actor()?;
        let axum::Json(book) = addresses::list(State(shop.clone()), actor.clone()).await?;
        let Address {
            province,
            city,
            district,
            detail,
            contact_name,
            phone,
            ..
        } = book
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(ApiError::not_found)?;
        let input = AddressInput {
            province,
            city,
            district,
            detail,
            contact_name,
            phone,
            is_default: true,
        };
        addresses::update(State(shop.clone()), actor, Path(id), ApiJson(input)).await
    }
    .await;
    answer(
        &shop,
        &visit,
        AddressForm::default(),
        Some(id),
        done,
        "address_saved",
    )
    .await
}

/// `POST /me/addresses/{id}/delete`: through `addresses::delete`.
pub async fn delete(
    State(shop): State<Shop>,
    visit: Visit,
    path: Result<Path<i64>, ApiError>,
) -> Page {
    let id = match super::goods::id_of(path) {
        Ok(id) => id,
        Err(error) => return visit.show::<AddressBookView>(Err(error)),
    };
    let done =
        async { addresses::delete(State(shop.clone()), visit.actor()?, Path(id)).await }.await;
    answer(
        &shop,
        &visit,
        AddressForm::default(),
        Some(id),
        done,
        "address_removed",
    )
    .await
}
