//! From a confirmed order to goods signed for (E2–E4, E6, E7): dispatch by driver or carrier,
//! the driver's console, delivery with the signed note's photos, the member's receipt, the
//! clock's receipt, and customer service's status changes. Every move goes through the state
//! machine (`machine`), with the goods it sends and the photos it keeps in the same
//! transaction.

use crate::edge::extract::Multipart;
use crate::edge::extract::{Path, Query};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::backorders::{Backorders, fill_backorders};
use super::lifecycle::scoped_order;
use super::machine::{Action, Move, MoveError, invalid_transition, permit, write_move};
use super::queries::OrderFilter;
use super::record::{OrderRecord, OrderView};
use super::{Audience, OrderScope, OrderStatus};
use crate::accounts::Role;
use crate::accounts::permissions::{Actor, Permission};
use crate::clock::rfc3339;
use crate::edge::json::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::ids::OrderId;
use crate::images::{StagedImage, UploadKind, stage_photo};
use crate::shop::Shop;
use crate::store::batch::{Arg, Batch, RunBatch, args};
use crate::store::in_tx;
use OrderStatus::{AwaitingDispatch, Closed, InDelivery, Received};

/// How goods leave (E2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Shipment {
    /// 司机配送: one of the region's drivers.
    Driver,
    /// 快递
    Express,
    /// 物流
    Logistics,
    /// 其他
    Other,
}

impl Shipment {
    pub const ALL: [Shipment; 4] = [
        Shipment::Driver,
        Shipment::Express,
        Shipment::Logistics,
        Shipment::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Shipment::Driver => "driver",
            Shipment::Express => "express",
            Shipment::Logistics => "logistics",
            Shipment::Other => "other",
        }
    }

    pub fn from_db(text: &str) -> Option<Shipment> {
        Shipment::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            Shipment::Driver => "司机配送",
            Shipment::Express => "快递",
            Shipment::Logistics => "物流",
            Shipment::Other => "其他",
        }
    }
}

/// The driver of an order, as the member sees him (E7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Driver {
    pub id: i64,
    pub name: String,
    pub phone: String,
    pub plate: Option<String>,
}

/// How an order was sent and received, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fulfilment {
    pub shipment: Option<Shipment>,
    pub driver: Option<Driver>,
    pub carrier: String,
    pub tracking_no: String,
    pub expected_date: Option<String>,
    pub remark: String,
    pub dispatched_at: Option<i64>,
    pub received_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// Upload keys of the signed delivery note's photos, in upload order.
    pub photos: Vec<String>,
    /// Where a self-pickup order is collected, and its code (E5).
    pub pickup_point: Option<super::pickup::PickupPoint>,
    pub pickup_code: Option<String>,
}

/// What every reader of an order sees of its shipment (E7).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FulfilmentView {
    pub shipment: Option<Shipment>,
    pub shipment_label: Option<String>,
    pub driver: Option<Driver>,
    pub carrier: String,
    pub tracking_no: String,
    pub expected_date: Option<String>,
    pub remark: String,
    pub dispatched_at: Option<String>,
    pub received_at: Option<String>,
    pub completed_at: Option<String>,
    /// The signed delivery note's photos (`GET` them with the reader's token).
    pub delivery_photos: Vec<String>,
    pub pickup_point: Option<super::pickup::PickupPoint>,
    /// The member's code to show at the pickup point; only he sees it.
    pub pickup_code: Option<String>,
}

impl Fulfilment {
    pub fn view(&self, audience: Audience) -> FulfilmentView {
        FulfilmentView {
            shipment: self.shipment,
            shipment_label: self.shipment.map(|s| s.label().to_owned()),
            driver: self.driver.clone(),
            carrier: self.carrier.clone(),
            tracking_no: self.tracking_no.clone(),
            expected_date: self.expected_date.clone(),
            remark: self.remark.clone(),
            dispatched_at: self.dispatched_at.map(rfc3339),
            received_at: self.received_at.map(rfc3339),
            completed_at: self.completed_at.map(rfc3339),
            delivery_photos: self
                .photos
                .iter()
                .map(|key| format!("/api/v1/uploads/{key}"))
                .collect(),
            pickup_point: self.pickup_point.clone(),
            pickup_code: self
                .pickup_code
                .clone()
                .filter(|_| audience == Audience::Member),
        }
    }
}

impl super::OrderStore<'_> {
    /// Makes `step` on `order` (see `machine::write_move`) with what goes with it in
    /// fulfilment: the goods it sends and what it does about items still owed (E2), and the
    /// signed delivery note's photos (owned by the order's member, so he and the staff who may
    /// see him read them). `None` when someone else moved the order first.
    pub(crate) async fn move_order(
        self,
        order: &OrderRecord,
        step: Move<'_>,
        backorders: Backorders,
        photos: &[StagedImage],
    ) -> Result<Option<OrderRecord>, MoveError> {
        let moved = in_tx!(self, |tx| {
            async {
                if write_move(&mut *tx, order, &step).await?.is_none() {
                    return Ok::<_, MoveError>(None);
                }
                let filled =
                    fill_backorders(&mut *tx, order, backorders, step.actor_id, step.now_ms)
                        .await?;
                if backorders == Backorders::Fill && !filled.short.is_empty() {
                    return Err(MoveError::StockShort(filled.short));
                }
                let mut batch = Batch::default();
                for (seq, photo) in photos.iter().enumerate() {
                    photo.push_row(&mut batch, order.member_id.get(), step.now_ms);
                    batch.push(
                        "INSERT INTO delivery_photos (order_id, seq, upload_key, uploaded_by, at)
                         VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM delivery_photos WHERE order_id = $1) + $2, $3, $4, $5)",
                        args![
                            order.id,
                            i64::try_from(seq).unwrap_or(0),
                            photo.key.as_str(),
                            step.actor_id,
                            step.now_ms,
                        ],
                    );
                }
                tx.execute_batch(batch).await?;
                Ok(Some((filled.levels, filled.followup_id.is_some())))
            }
            .await
        })?;
        let Some((levels, split)) = moved else {
            return Ok(None);
        };
        self.stock_moved(&levels).await;
        if split {
            // The split's notice went to the member's inbox with the move.
            self.changed(crate::store::Change::Inbox(Some(order.member_id.get())))
                .await;
        }
        Ok(self.order(order.id).await?)
    }

    /// Receives what was sent without a driver and not confirmed by the member within
    /// `auto_receive_days` (E4). Returns how many.
    pub async fn receive_overdue_orders(self, now_ms: i64) -> Result<usize, MoveError> {
        let days = self.settings().current().await?.auto_receive_days;
        let sent_by = now_ms - days * 86_400_000;
        let ids: Vec<OrderId> = crate::store::on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT id FROM orders WHERE status = 'in_delivery' AND driver_id IS NULL AND dispatched_at <= $1 ORDER BY id LIMIT 500",
            )
            .bind(sent_by)
            .fetch_all(pool)
            .await
        })?;
        let mut received = 0;
        for order in self.orders_with_details(&ids).await? {
            let step = Move::new(Action::AutoReceived, InDelivery, Received, now_ms).by(
                None,
                "超过收货期限，系统自动确认收货 (received automatically)",
            );
            if self
                .move_order(&order, step, Backorders::NotShipping, &[])
                .await?
                .is_some()
            {
                received += 1;
            }
        }
        Ok(received)
    }
}

/// How an order leaves (E2): a driver of its region, or a carrier.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatchInput {
    pub method: Shipment,
    /// With `driver`: one of the order's region's drivers.
    pub driver_id: Option<i64>,
    /// With express or logistics: the company (顺丰, 德邦 …).
    #[serde(default)]
    pub carrier: String,
    #[serde(default)]
    pub tracking_no: String,
    /// Expected delivery, a shop date (`2026-12-03`).
    pub expected_date: Option<String>,
    #[serde(default)]
    pub remark: String,
    /// Where items are still owed (backorders): send what is on the shelf now and move the
    /// rest to a follow-up order (补发单). Without it such a dispatch is refused (`stock_short`).
    #[serde(default)]
    pub split_backorders: bool,
}

fn text(value: &str, field: &str, max: usize) -> ApiResult<String> {
    crate::accounts::parse_text(value, field, max)
}

/// Send an order (E2): assign a driver of its region (the order then waits for him: 待送货),
/// or hand it to express, logistics or another way with carrier and tracking number (发货中).
/// The order's confirmer, admin or customer service.
#[utoipa::path(post, path = "/admin/orders/{id}/dispatch", tag = "fulfilment", params(("id" = i64, Path)), request_body = DispatchInput,
    responses((status = 200, body = OrderView), (status = 409, description = "`invalid_transition`, `stock_short`", body = crate::error::ErrorBody), (status = 422, description = "`driver_required`, `invalid_date`, `shipment_incomplete`, `unknown_driver`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn dispatch(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<OrderId>,
    ApiJson(input): ApiJson<DispatchInput>,
) -> ApiResult<Json<OrderView>> {
    let (order, scope) = scoped_order(&app, &actor, id).await?;
    let audience = scope.audience();
    let carrier = text(&input.carrier, "carrier", 50)?;
    let tracking_no = text(&input.tracking_no, "tracking_no", 50)?;
    let remark = text(&input.remark, "remark", 200)?;
    let expected_date = match input.expected_date.as_deref() {
        None | Some("") => None,
        Some(date) => Some(
            crate::clock::parse_shop_date(date)
                .map(crate::clock::shop_date_iso)
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "invalid_date",
                        "expected_date",
                        "expected_date: 日期格式为 2026-12-01 (a date like 2026-12-01)",
                    )
                })?,
        ),
    };
    let now = app.clock.now_ms();
    let (action, to, set) = if input.method == Shipment::Driver {
        let driver_id = input.driver_id.ok_or_else(|| {
            ApiError::invalid_field(
                "driver_required",
                "driver_id",
                "driver_id: 请选择送货司机 (choose a driver)",
            )
        })?;
        let region_drivers = match order.region_id {
            Some(region) => {
                app.store
                    .regions()
                    .region_staff(region, Role::Driver)
                    .await?
            }
            None => Vec::new(),
        };
        if !region_drivers.contains(&driver_id) {
            return Err(ApiError::invalid_field(
                "unknown_driver",
                "driver_id",
                "driver_id: 不是该订单所属区域的司机 (not a driver of the order's region)",
            ));
        }
        (
            Action::DriverAssigned,
            AwaitingDispatch,
            vec![
                ("driver_id", Arg::from(driver_id)),
                ("shipment", Arg::from(Shipment::Driver.as_str())),
            ],
        )
    } else {
        if matches!(input.method, Shipment::Express | Shipment::Logistics)
            && (carrier.is_empty() || tracking_no.is_empty())
        {
            let field = if carrier.is_empty() {
                "carrier"
            } else {
                "tracking_no"
            };
            return Err(ApiError::invalid_field(
                "shipment_incomplete",
                field,
                format!("{field}: 快递或物流须填写公司和单号 (carrier and tracking number)"),
            ));
        }
        (
            Action::Dispatched,
            InDelivery,
            vec![
                ("driver_id", Arg::Int(None)),
                ("shipment", Arg::from(input.method.as_str())),
            ],
        )
    };
    permit(&actor, &order, action, to, audience)?;
    let step = Move::new(action, order.status, to, now)
        .by(Some(actor.user_id), &remark)
        .setting(set)
        .setting([
            ("carrier", Arg::from(carrier)),
            ("tracking_no", Arg::from(tracking_no)),
            ("expected_date", Arg::from(expected_date)),
            ("dispatch_remark", Arg::from(remark.as_str())),
        ]);
    let moved = app
        .store
        .orders()
        .move_order(
            &order,
            step,
            Backorders::shipping(input.split_backorders),
            &[],
        )
        .await?
        .ok_or_else(|| invalid_transition(&order, audience))?;
    // K1's notices (the driver's, the member's) come from the event, by the rules.
    Ok(Json(moved.view(audience)))
}

/// Which of his orders a driver lists.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DriverQuery {
    /// `awaiting_dispatch` (待送货) or `in_delivery` (送货中); both when absent. `received`
    /// lists what he delivered (已完成).
    pub status: Option<OrderStatus>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// One stop on a driver's list (E3): where, whom to call, what to bring.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DriverStop {
    pub id: OrderId,
    pub number: String,
    pub status: OrderStatus,
    pub status_label: String,
    pub member_name: String,
    pub shop_name: Option<String>,
    pub contact_name: String,
    /// Tap to call.
    pub phone: String,
    /// One line, to copy into a map.
    pub address: String,
    pub remark: String,
    pub requested_date: Option<String>,
    pub payment_method_label: String,
    /// What the driver collects on delivery (cash on delivery), in fen.
    pub to_collect_fen: i64,
    pub items: i64,
    pub weight_g: i64,
}

impl DriverStop {
    fn of(order: &OrderRecord) -> DriverStop {
        let address = order
            .address
            .clone()
            .unwrap_or_else(|| super::record::OrderAddress {
                province: String::new(),
                city: String::new(),
                district: String::new(),
                detail: String::new(),
                contact_name: order.member_name.clone(),
                phone: String::new(),
            });
        DriverStop {
            id: order.id,
            number: order.number(),
            status: order.status,
            status_label: order.status.label(Audience::Driver).to_owned(),
            member_name: order.member_name.clone(),
            shop_name: order.shop_name.clone(),
            contact_name: address.contact_name.clone(),
            phone: address.phone.clone(),
            address: format!(
                "{}{}{}{}",
                address.province, address.city, address.district, address.detail
            ),
            remark: order.remark.clone(),
            requested_date: order.requested_date.clone(),
            payment_method_label: order.payment_method.label().to_owned(),
            to_collect_fen: if order.payment_method
                == crate::settings::PaymentMethod::CashOnDelivery
            {
                order.owed().get()
            } else {
                0
            },
            items: order.lines.iter().map(|l| l.line.qty).sum(),
            weight_g: order.weight_g,
        }
    }
}

/// The driver console (E3): the orders assigned to me, oldest first.
#[utoipa::path(get, path = "/driver/orders", tag = "fulfilment", params(DriverQuery),
    responses((status = 200, body = Vec<DriverStop>)), security(("bearer" = [])))]
pub async fn driver_orders(
    State(app): State<Shop>,
    actor: Actor,
    Query(query): Query<DriverQuery>,
) -> ApiResult<crate::store::Page<DriverStop>> {
    if !actor.has(Permission::DeliverOrders) {
        return Err(ApiError::forbidden());
    }
    let filter = OrderFilter {
        statuses: match query.status {
            Some(status) => vec![status],
            None => vec![AwaitingDispatch, InDelivery],
        },
        oldest_first: true,
        limit: query.limit.unwrap_or(100).clamp(1, 200),
        offset: query.offset.unwrap_or(0).max(0),
        ..OrderFilter::scoped(OrderScope::Driver {
            driver_id: actor.user_id,
        })
    };
    let orders = app.store.orders().list_orders(&filter).await?;
    Ok(crate::store::Page {
        items: orders.items.iter().map(DriverStop::of).collect(),
        total: orders.total,
    })
}

/// Set out with an assigned order (E3): 待送货 → 送货中; the member sees 待收货 and the driver.
#[utoipa::path(post, path = "/driver/orders/{id}/start", tag = "fulfilment", params(("id" = i64, Path)),
    responses((status = 200, body = OrderView), (status = 409, description = "`invalid_transition`, `stock_short`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn start_delivery(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<OrderId>,
) -> ApiResult<Json<OrderView>> {
    let (order, _) = scoped_order(&app, &actor, id).await?;
    permit(
        &actor,
        &order,
        Action::DeliveryStarted,
        InDelivery,
        Audience::Driver,
    )?;
    let step = Move::new(
        Action::DeliveryStarted,
        order.status,
        InDelivery,
        app.clock.now_ms(),
    )
    .by(Some(actor.user_id), "");
    let moved = app
        .store
        .orders()
        .move_order(&order, step, Backorders::NotShipping, &[])
        .await?
        .ok_or_else(|| invalid_transition(&order, Audience::Driver))?;
    Ok(Json(moved.view(Audience::Driver)))
}

/// The form of `POST /driver/orders/{id}/delivered` (multipart/form-data).
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the multipart form for the OpenAPI document"
)]
pub struct DeliveredForm {
    /// Photos of the signed delivery note (JPEG, PNG or WebP, at most 8 MB each): one or more,
    /// repeat the field.
    #[schema(value_type = Vec<String>, format = Binary)]
    photo: Vec<Vec<u8>>,
    remark: Option<String>,
}

/// Deliver (E3): one or more photos (`photo` fields, JPEG/PNG/WebP) of the signed delivery
/// note (出库签收单). The order is received at once: 已送达 for the business side, 已收货 for the
/// member, with nothing for him to do; paid in full, it completes.
#[utoipa::path(post, path = "/driver/orders/{id}/delivered", tag = "fulfilment", params(("id" = i64, Path)),
    request_body(content = DeliveredForm, content_type = "multipart/form-data"),
    responses((status = 200, body = OrderView), (status = 409, description = "`invalid_transition`, `stock_short`", body = crate::error::ErrorBody), (status = 422, description = "`image_too_large`, `invalid_image`, `photo_required`, `too_many_photos`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn delivered(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<OrderId>,
    mut form: Multipart,
) -> ApiResult<Json<OrderView>> {
    let (order, _) = scoped_order(&app, &actor, id).await?;
    permit(
        &actor,
        &order,
        Action::Delivered,
        Received,
        Audience::Driver,
    )?;
    let mut photos = Vec::new();
    let mut remark = String::new();
    while let Some(field) = form.next_field().await? {
        match field.name().unwrap_or("") {
            "photo" => {
                stage_photo(
                    &app.config.data_dir,
                    UploadKind::DeliveryNote,
                    field,
                    &mut photos,
                )
                .await?;
            }
            "remark" => remark = crate::edge::json::form_text(field).await?,
            other => crate::edge::json::unknown_form_field(other)?,
        }
    }
    if photos.is_empty() {
        return Err(ApiError::invalid_field(
            "photo_required",
            "photo",
            "photo: 请拍照上传签收单 (a photo of the signed delivery note)",
        ));
    }
    let remark = text(&remark, "remark", 200)?;
    let now = app.clock.now_ms();
    // Handed over without setting out first: it left when it arrived.
    let step = Move::new(Action::Delivered, order.status, Received, now)
        .by(Some(actor.user_id), &remark)
        .setting([(
            "dispatched_at",
            Arg::from(order.fulfilment.dispatched_at.unwrap_or(now)),
        )]);
    let moved = app
        .store
        .orders()
        .move_order(&order, step, Backorders::NotShipping, &photos)
        .await?
        .ok_or_else(|| invalid_transition(&order, Audience::Driver))?;
    for photo in photos {
        photo.keep();
    }
    Ok(Json(moved.view(Audience::Driver)))
}

/// Confirm receipt of my order sent without a driver (E4): 待收货 → 已收货.
#[utoipa::path(post, path = "/orders/{id}/receive", tag = "fulfilment", params(("id" = i64, Path)),
    responses((status = 200, body = OrderView), (status = 409, description = "`driver_delivery`, `invalid_transition`, `stock_short`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn confirm_receipt(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<OrderId>,
) -> ApiResult<Json<OrderView>> {
    let (order, scope) = scoped_order(&app, &actor, id).await?;
    let audience = scope.audience();
    permit(&actor, &order, Action::ReceiptConfirmed, Received, audience)?;
    if order.fulfilment.driver.is_some() {
        // The driver's photos are the receipt (E3): the member has nothing to confirm.
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "driver_delivery",
            "由司机送货的订单，司机上传签收单后自动收货 (the driver's photos confirm this order)",
        ));
    }
    let step = Move::new(
        Action::ReceiptConfirmed,
        order.status,
        Received,
        app.clock.now_ms(),
    )
    .by(Some(actor.user_id), "");
    let moved = app
        .store
        .orders()
        .move_order(&order, step, Backorders::NotShipping, &[])
        .await?
        .ok_or_else(|| invalid_transition(&order, audience))?;
    Ok(Json(moved.view(audience)))
}

/// A status change by customer service (E6).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    pub status: OrderStatus,
    /// Required: every change says why.
    pub remark: String,
}

/// Change an order's status (admin, customer service; E6), with a remark each time: move it on
/// (shipping, received, completed) or close it (its reserved stock returns).
#[utoipa::path(post, path = "/admin/orders/{id}/status", tag = "fulfilment", params(("id" = i64, Path)), request_body = StatusChange,
    responses((status = 200, body = OrderView), (status = 409, description = "`invalid_transition`, `stock_short`", body = crate::error::ErrorBody), (status = 422, description = "`reason_required`", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn change_status(
    State(app): State<Shop>,
    actor: Actor,
    Path(id): Path<OrderId>,
    ApiJson(input): ApiJson<StatusChange>,
) -> ApiResult<Json<OrderView>> {
    let (order, scope) = scoped_order(&app, &actor, id).await?;
    let audience = scope.audience();
    let remark = input.remark.trim();
    if remark.is_empty() || remark.chars().count() > 200 {
        return Err(ApiError::invalid_field(
            "reason_required",
            "remark",
            "remark: 请填写备注，最多200字 (a remark, at most 200 characters)",
        ));
    }
    permit(
        &actor,
        &order,
        Action::StatusChanged,
        input.status,
        audience,
    )?;
    let step = Move::new(
        Action::StatusChanged,
        order.status,
        input.status,
        app.clock.now_ms(),
    )
    .by(Some(actor.user_id), remark);
    let moved = if input.status == Closed {
        app.store.orders().close_order(&order, step).await?
    } else {
        // Customer service moving an order on ships nothing by halves.
        let backorders = if order.status == AwaitingDispatch {
            Backorders::Fill
        } else {
            Backorders::NotShipping
        };
        app.store
            .orders()
            .move_order(&order, step, backorders, &[])
            .await?
    }
    .ok_or_else(|| invalid_transition(&order, audience))?;
    Ok(Json(moved.view(audience)))
}
