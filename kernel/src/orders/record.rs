//! The order as the kernel holds it (`OrderRecord`: the row with its lines, adjustments,
//! payments, history and fulfilment) and as each audience reads it (`OrderView`). Reading it
//! from the database is `queries`; changing it is `machine` (status) and the modules of each
//! step.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::fulfilment::{Fulfilment, FulfilmentView};
use super::quote::{Adjustment, QuotedLine};
use super::{Audience, DeliveryMethod, OrderStatus, order_number};
use crate::clock::rfc3339;
use crate::ids::{MemberId, OrderId};
use crate::money::Fen;
use crate::quantity::Quantity;
use crate::settings::PaymentMethod;

/// Where the goods go, as it was when the order was placed (an address book entry may change
/// later; the order keeps what was agreed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderAddress {
    pub province: String,
    pub city: String,
    pub district: String,
    pub detail: String,
    pub contact_name: String,
    pub phone: String,
}

/// A line of a placed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OrderLine {
    #[serde(flatten)]
    pub line: QuotedLine,
    /// Items taken from stock for this order (given back when it closes).
    pub reserved_qty: Quantity,
    /// Items ordered beyond stock where the SKU allows backorders, still owed.
    pub backorder_qty: Quantity,
    /// Items moved to a follow-up order (补发单) when this one shipped without them (E2);
    /// this order sends `qty - followup_qty`.
    pub followup_qty: Quantity,
}

impl OrderLine {
    /// What this order sends of the line: not what moved to a follow-up, nor what is owed.
    pub fn ships(&self) -> Quantity {
        Quantity(self.line.qty - self.followup_qty.get() - self.backorder_qty.get())
    }
}

/// One entry of an order's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub at: String,
    pub actor_id: Option<i64>,
    /// `placed`, `confirmed`, `rejected`, `cancelled`, `closed`, `hold_released`, `paid` …
    pub action: String,
    pub from_status: Option<OrderStatus>,
    pub to_status: OrderStatus,
    pub remark: String,
}

/// A payment record (F1): a member's transfer receipt or staff's mark of money received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PaymentRecord {
    /// `receipt` (member's proof of transfer) or `payment` (money received, by staff).
    pub kind: String,
    pub amount_fen: i64,
    /// The uploaded picture, where there is one.
    pub proof_url: Option<String>,
    pub remark: String,
    pub actor_id: i64,
    pub at: String,
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub id: OrderId,
    pub member_id: MemberId,
    pub member_name: String,
    pub shop_name: Option<String>,
    pub placed_by: i64,
    pub region_id: Option<i64>,
    pub manager_id: Option<i64>,
    pub promoter_id: Option<i64>,
    /// The member's level when the order was placed (commission rates by level, I2).
    pub level_id: Option<i64>,
    pub status: OrderStatus,
    pub credit_hold: bool,
    pub payment_method: PaymentMethod,
    pub delivery_method: DeliveryMethod,
    pub address: Option<OrderAddress>,
    pub remark: String,
    pub po_number: String,
    pub requested_date: Option<String>,
    pub goods_fen: Fen,
    pub shipping_fen: Fen,
    pub adjustments_fen: Fen,
    pub total_fen: Fen,
    pub paid_fen: Fen,
    pub refunded_fen: Fen,
    /// 售后中: an after-sales request is open (E9: a mark, not a state).
    pub after_sales_open: bool,
    pub weight_g: i64,
    pub close_reason: Option<String>,
    pub placed_at: i64,
    pub confirmed_at: Option<i64>,
    pub confirmed_by: Option<i64>,
    pub paid_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// The order this one ships the rest of (a follow-up, 补发单), and its number.
    pub parent: Option<(OrderId, String)>,
    pub lines: Vec<OrderLine>,
    pub adjustments: Vec<Adjustment>,
    pub payments: Vec<PaymentRecord>,
    pub history: Vec<HistoryEntry>,
    pub fulfilment: Fulfilment,
}

/// An order as its reader sees it; `status_label` is in the reader's words (E9).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderView {
    pub id: OrderId,
    /// Date and sequence: 20261130000123.
    pub number: String,
    pub status: OrderStatus,
    pub status_label: String,
    pub member_id: MemberId,
    pub member_name: String,
    pub shop_name: Option<String>,
    /// Who placed it: the member, or his manager or promoter on his behalf (D4).
    pub placed_by: i64,
    pub region_id: Option<i64>,
    pub manager_id: Option<i64>,
    pub promoter_id: Option<i64>,
    /// 信用冻结: waits for an admin or customer service to release it (B6).
    pub credit_hold: bool,
    pub payment_method: PaymentMethod,
    pub payment_method_label: String,
    /// Pay-first methods wait in 待付款 after confirmation.
    pub pays_first: bool,
    pub paid_fen: Fen,
    pub refunded_fen: Fen,
    /// 售后中: an after-sales request is open (a mark, not a state).
    pub after_sales_open: bool,
    pub delivery_method: DeliveryMethod,
    pub delivery_method_label: String,
    pub address: Option<OrderAddress>,
    pub remark: String,
    pub po_number: String,
    pub requested_date: Option<String>,
    pub lines: Vec<OrderLine>,
    pub adjustments: Vec<Adjustment>,
    pub goods_fen: Fen,
    pub adjustments_fen: Fen,
    pub shipping_fen: Fen,
    pub total_fen: Fen,
    pub weight_g: i64,
    pub close_reason: Option<String>,
    pub placed_at: String,
    pub confirmed_at: Option<String>,
    pub paid_at: Option<String>,
    pub closed_at: Option<String>,
    /// A follow-up order (补发单) ships what `parent_number` still owed when it left (E2).
    pub parent_id: Option<OrderId>,
    pub parent_number: Option<String>,
    pub payments: Vec<PaymentRecord>,
    pub history: Vec<HistoryEntry>,
    /// How it is sent and was received: driver (name, phone, plate) or carrier and tracking
    /// number, and the photos of the signed delivery note (E7, E3).
    pub fulfilment: FulfilmentView,
    /// What checkout changed in the cart (delisted goods dropped, quantities rounded to the
    /// pack); only in the answer to placing the order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<super::quote::Notice>,
}

impl OrderRecord {
    /// What is still to pay (never below nothing).
    pub fn owed(&self) -> Fen {
        // Both within [0, MAX_ORDER_FEN]: the difference cannot overflow.
        Fen((self.total_fen.get() - self.paid_fen.get()).max(0))
    }

    /// What may still be refunded: paid and not yet refunded.
    pub fn refundable(&self) -> Fen {
        Fen((self.paid_fen.get() - self.refunded_fen.get()).max(0))
    }

    pub fn number(&self) -> String {
        order_number(self.id, self.placed_at)
    }

    pub fn view(&self, audience: Audience) -> OrderView {
        OrderView {
            id: self.id,
            number: self.number(),
            status: self.status,
            status_label: self.status.label(audience).to_owned(),
            member_id: self.member_id,
            member_name: self.member_name.clone(),
            shop_name: self.shop_name.clone(),
            placed_by: self.placed_by,
            region_id: self.region_id,
            manager_id: self.manager_id,
            promoter_id: self.promoter_id,
            credit_hold: self.credit_hold,
            payment_method: self.payment_method,
            payment_method_label: self.payment_method.label().to_owned(),
            pays_first: self.payment_method.pays_first(),
            paid_fen: self.paid_fen,
            refunded_fen: self.refunded_fen,
            after_sales_open: self.after_sales_open,
            delivery_method: self.delivery_method,
            delivery_method_label: self.delivery_method.label().to_owned(),
            address: self.address.clone(),
            remark: self.remark.clone(),
            po_number: self.po_number.clone(),
            requested_date: self.requested_date.clone(),
            lines: self.lines.clone(),
            adjustments: self.adjustments.clone(),
            goods_fen: self.goods_fen,
            adjustments_fen: self.adjustments_fen,
            shipping_fen: self.shipping_fen,
            total_fen: self.total_fen,
            weight_g: self.weight_g,
            close_reason: self.close_reason.clone(),
            placed_at: rfc3339(self.placed_at),
            confirmed_at: self.confirmed_at.map(rfc3339),
            paid_at: self.paid_at.map(rfc3339),
            closed_at: self.closed_at.map(rfc3339),
            parent_id: self.parent.as_ref().map(|(id, _)| *id),
            parent_number: self.parent.as_ref().map(|(_, number)| number.clone()),
            payments: self.payments.clone(),
            history: self.history.clone(),
            fulfilment: self.fulfilment.view(audience),
            notices: Vec::new(),
        }
    }
}
