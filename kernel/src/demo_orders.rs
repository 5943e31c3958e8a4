//! A few hundred historical orders for the full demo (issue: ordering): the approved members of
//! every region order over the last sixty days, by every offered method, through the same quote
//! and checkout code as the API. Older orders were confirmed (and paid, where payment comes
//! first), rejected, cancelled or closed for lack of confirmation; the last two days' wait.

use anyhow::Context;

use crate::accounts::MemberState;
use crate::members::records::{MemberFilter, MemberScope};
use crate::orders::checkout::NewOrder;
use crate::orders::confirmation;
use crate::orders::machine::{Action, Move};
use crate::orders::payments::{PaymentEntry, PaymentKind};
use crate::orders::pipeline::{Pipeline, Reservations};
use crate::orders::quote::{self, Area, Buyer, LineRequest, QuoteRequest};
use crate::orders::record::OrderAddress;
use crate::orders::{Audience, DeliveryMethod, OrderStatus};
use crate::settings::PaymentMethod;
use crate::store::Store;

const ORDERS: u64 = 400;
const DAY_MS: i64 = 86_400_000;

/// A small deterministic generator: the demo is the same on every machine.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % sides.max(1)
    }
}

pub async fn load_orders(store: &Store, now_ms: i64) -> anyhow::Result<()> {
    let settings = store.settings().current().await?;
    let members = store
        .members()
        .list_members(&MemberFilter {
            state: Some(MemberState::Approved),
            region_id: None,
            level_id: None,
            tag_id: None,
            pending_change: None,
            scope: MemberScope::All,
            limit: 100,
            offset: 0,
        })
        .await?
        .items;
    let admin = store
        .accounts()
        .user_id_by_phone("13800000001")
        .await?
        .context("the demo admin")?;
    let products = store
        .catalog()
        .list_products(&crate::catalog::storage::ProductFilter {
            on_shelf: Some(true),
            limit: 500,
            ..Default::default()
        })
        .await?
        .items;
    let skus: Vec<(crate::ids::SkuId, i64)> = products
        .iter()
        .flat_map(|p| p.skus.iter().map(|s| (s.id, p.unit.inner_qty.max(1))))
        .collect();
    let methods: Vec<PaymentMethod> = PaymentMethod::ALL
        .into_iter()
        .filter(|m| m.is_enabled(&settings.payment_methods) && !m.is_credit())
        .collect();
    anyhow::ensure!(
        !members.is_empty() && !skus.is_empty() && !methods.is_empty(),
        "demo orders need members, goods and payment methods"
    );
    let mut dice = Dice(20_261_130);
    for n in 0..ORDERS {
        let Some(member) = members.get(usize::try_from(n).unwrap_or(0) % members.len()) else {
            continue;
        };
        let age_days = 60 - i64::try_from(n * 60 / ORDERS).unwrap_or(0);
        let placed_at = now_ms - age_days * DAY_MS
            + i64::try_from(dice.roll(10 * 3_600_000)).unwrap_or(0)
            - 5 * 3_600_000;
        let placed_at = placed_at.min(now_ms - 60_000);
        let mut lines: Vec<LineRequest> = Vec::new();
        for _ in 0..(2 + dice.roll(5)) {
            let index = usize::try_from(dice.roll(skus.len() as u64)).unwrap_or(0);
            if let Some((sku_id, pack)) = skus.get(index)
                && !lines.iter().any(|l| l.sku_id == *sku_id)
            {
                lines.push(LineRequest {
                    sku_id: *sku_id,
                    qty: pack * (1 + i64::try_from(dice.roll(2)).unwrap_or(0)),
                });
            }
        }
        let delivery = if dice.roll(4) == 0 {
            DeliveryMethod::Pickup
        } else {
            DeliveryMethod::Ship
        };
        let address = store
            .members()
            .addresses(member.id)
            .await?
            .into_iter()
            .next()
            .map(|a| OrderAddress {
                province: a.province,
                city: a.city,
                district: a.district,
                detail: a.detail,
                contact_name: a.contact_name,
                phone: a.phone,
            });
        let Some(&payment) =
            methods.get(usize::try_from(dice.roll(methods.len() as u64)).unwrap_or(0))
        else {
            continue;
        };
        let buyer = Buyer {
            member_id: member.id,
            level_id: member.level_id,
            region_id: member.region_id,
            attributes: None,
        };
        let request = QuoteRequest {
            lines,
            delivery,
            area: address.as_ref().map(|a| Area {
                province: a.province.clone(),
                city: a.city.clone(),
            }),
            drop_delisted: true,
            plugin_options: Default::default(),
        };
        let Ok(quote) = quote::price(
            store,
            &settings,
            &Pipeline::default(),
            &buyer,
            &request,
            placed_at,
        )
        .await
        else {
            continue;
        };
        let key = format!("demo-{n}");
        let placed = store
            .orders()
            .place_order(NewOrder {
                reservations: Reservations::default(),
                placed_by: member.id,
                key,
                request_hash: "demo".to_owned(),
                member: member.clone(),
                audience: Audience::Member,
                quote,
                payment_method: payment,
                delivery_method: delivery,
                address: address.clone(),
                remark: String::new(),
                po_number: if n % 5 == 0 {
                    format!("PO-{}", 1000 + n)
                } else {
                    String::new()
                },
                requested_date: None,
                from_cart: false,
                now_ms: placed_at,
            })
            .await;
        // Goods sold out by earlier demo orders are skipped, as a real checkout would refuse.
        let Ok(placed) = placed else { continue };
        if age_days < 2 {
            continue;
        }
        let order = placed.record;
        let later = placed_at + 2 * 3_600_000;
        let confirmer = member.manager_id.unwrap_or(admin);
        let closing = |action, actor, reason, at| {
            Move::new(
                action,
                OrderStatus::PendingConfirmation,
                OrderStatus::Closed,
                at,
            )
            .by(actor, reason)
        };
        match dice.roll(10) {
            0 => {
                let step = closing(
                    Action::Rejected,
                    Some(confirmer),
                    "缺货，请改订其他型号",
                    later,
                );
                store.orders().close_order(&order, step).await?;
            }
            1 => {
                let step = closing(
                    Action::Cancelled,
                    Some(member.id),
                    "买家取消订单 (cancelled by the member)",
                    later,
                );
                store.orders().close_order(&order, step).await?;
            }
            2 => {
                let step = closing(
                    Action::TimedOut,
                    None,
                    "超时未确认，订单已自动关闭 (not confirmed in time)",
                    placed_at + settings.confirm_timeout_hours * 3_600_000,
                );
                store.orders().close_order(&order, step).await?;
            }
            _ => {
                // Confirmed as placed, by the same planner a confirmer's request goes through.
                let plan = confirmation::plan(
                    &order,
                    &confirmation::Confirmation::default(),
                    &settings.shipping,
                )
                .map_err(|e| anyhow::anyhow!(e.message))?;
                store
                    .orders()
                    .confirm_order(&order, &plan, confirmer, later)
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                if plan.next == OrderStatus::PendingPayment {
                    let mut confirmed = order.clone();
                    confirmed.status = plan.next;
                    store
                        .orders()
                        .record_payment(
                            &confirmed,
                            &PaymentEntry {
                                kind: PaymentKind::Payment,
                                amount_fen: order.total_fen,
                                proof: None,
                                remark: "银行到账 (demo)",
                                actor_id: admin,
                            },
                            later + 3_600_000,
                        )
                        .await?;
                }
            }
        }
    }
    Ok(())
}
