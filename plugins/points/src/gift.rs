//! The gift mall (积分商城, REQUIREMENTS H3): staff keep at most [`MAX_GIFTS`] gifts (image,
//! name, points, stock, kind 实物/优惠券/虚拟, description, on shelf); a member redeems one
//! (the points taken and a redemption order made, with a delivery address for a physical
//! gift); staff review physical ones (通过 → 发货, or 驳回 with the points and stock given
//! back), while a coupon or virtual gift is sent by message at once (`gift_redeemed`: the
//! coupons plugin issues the coupon, the notification rules tell the member).
//!
//! Storage: `gift:<id:06>` (ids from `gift-seq`, claimed as read); counter `taken:<gift>`
//! (redemptions holding stock, bounded by the gift's stock: never oversold) and
//! `redeemed:<gift>` (popularity, H4). A redemption is `red:<member:010>:<seq:012>` (its
//! number from the member's sequence: `<member>-<seq>`), listed by status through
//! `rs:<status>:<order:013>:<member:010>:<seq:012>` (waiting ones oldest first, finished ones
//! newest first).

use serde::{Deserialize, Serialize};
use serde_json::json;

use pifa_sdk::input::{Fields, refused};
use pifa_sdk::{Emit, HttpResponse, Kv};

use crate::account::{self, compare_and_add};
use crate::stats;

pub const MAX_GIFTS: usize = 200;
pub const MAX_NAME_CHARS: usize = 30;
pub const MAX_DESCRIPTION_CHARS: usize = 200;
pub const MAX_POINTS: i64 = 10_000_000;
pub const MAX_STOCK: i64 = 1_000_000;
pub const MAX_VIRTUAL_CHARS: usize = 300;
pub const IMAGE_PREFIX: &str = "/api/v1/images/";
/// Redemptions listed at once (a status's queue, a member's own).
pub const LIST_MOST: usize = 100;
const PREFIX: &str = "gift:";
const SEQ_KEY: &str = "gift-seq";

pub fn gift_key(id: i64) -> String {
    format!("{PREFIX}{id:06}")
}
pub fn taken_key(id: i64) -> String {
    format!("taken:{id}")
}
pub fn redeemed_key(id: i64) -> String {
    format!("redeemed:{id}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Physical,
    Coupon,
    Virtual,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Physical, Kind::Coupon, Kind::Virtual];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Physical => "physical",
            Kind::Coupon => "coupon",
            Kind::Virtual => "virtual",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Physical => "实物礼品",
            Kind::Coupon => "优惠券",
            Kind::Virtual => "虚拟服务",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gift {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub image: Option<String>,
    pub points: i64,
    /// How many may be redeemed in all (those rejected come back).
    pub stock: i64,
    pub kind: Kind,
    #[serde(default)]
    pub coupon_template_id: Option<i64>,
    /// For a virtual gift: the code or instructions the member is sent.
    #[serde(default)]
    pub virtual_text: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub on_shelf: bool,
}

/// A gift as the mall shows it: what is left of its stock, and never a virtual gift's code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shown {
    pub id: i64,
    pub name: String,
    pub image: Option<String>,
    pub points: i64,
    pub kind: Kind,
    pub description: String,
    pub left: i64,
}

/// A gift as staff see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Staffed {
    #[serde(flatten)]
    pub gift: Gift,
    pub taken: i64,
    pub left: i64,
    pub redeemed: i64,
}

pub fn left(kv: &impl Kv, gift: &Gift) -> i64 {
    gift.stock
        .saturating_sub(kv.counter(&taken_key(gift.id)))
        .max(0)
}

pub fn shown(kv: &impl Kv, gift: &Gift) -> Shown {
    Shown {
        id: gift.id,
        name: gift.name.clone(),
        image: gift.image.clone(),
        points: gift.points,
        kind: gift.kind,
        description: gift.description.clone(),
        left: left(kv, gift),
    }
}

pub fn staffed(kv: &impl Kv, gift: Gift) -> Staffed {
    Staffed {
        taken: kv.counter(&taken_key(gift.id)),
        left: left(kv, &gift),
        redeemed: kv.counter(&redeemed_key(gift.id)),
        gift,
    }
}

pub fn load_all(kv: &impl Kv) -> Vec<Gift> {
    kv.scan_json::<Gift>(PREFIX, 250, MAX_GIFTS + 10)
        .into_iter()
        .map(|(_, gift)| gift)
        .collect()
}

pub fn load(kv: &impl Kv, id: i64) -> Option<Gift> {
    kv.get_json(&gift_key(id))
}

fn storage_failed(message: String) -> HttpResponse {
    HttpResponse::storage_failed(message)
}

/// A gift's terms from a body (POST and PUT take the same; `on_shelf` absent is off, as an
/// unticked checkbox sends nothing).
fn terms(id: i64, fields: &Fields<'_>) -> Result<Gift, HttpResponse> {
    let name = fields.text("name", MAX_NAME_CHARS)?;
    let image = fields.optional_text("image", 300)?;
    if let Some(image) = &image
        && !image.starts_with(IMAGE_PREFIX)
    {
        return Err(refused(
            "image",
            "请使用本店上传的图片 (a picture the shop stored: /api/v1/images/…)",
        ));
    }
    let points = fields.int("points", 1, MAX_POINTS)?;
    let stock = fields.int("stock", 0, MAX_STOCK)?;
    let kind = match fields
        .choice("kind", &["physical", "coupon", "virtual"])?
        .as_str()
    {
        "coupon" => Kind::Coupon,
        "virtual" => Kind::Virtual,
        _ => Kind::Physical,
    };
    let coupon_template_id = fields.optional_int("coupon_template_id", 1, i64::MAX)?;
    let virtual_text = fields.optional_text("virtual_text", MAX_VIRTUAL_CHARS)?;
    if kind == Kind::Coupon && coupon_template_id.is_none() {
        return Err(refused(
            "coupon_template_id",
            "优惠券礼品须填写优惠券模板编号 (a coupon gift needs its coupon template)",
        ));
    }
    if kind == Kind::Virtual && virtual_text.is_none() {
        return Err(refused(
            "virtual_text",
            "虚拟礼品须填写发送给会员的兑换内容 (what the member is sent)",
        ));
    }
    Ok(Gift {
        id,
        name,
        image,
        points,
        stock,
        kind,
        coupon_template_id: coupon_template_id.filter(|_| kind == Kind::Coupon),
        virtual_text: virtual_text.filter(|_| kind == Kind::Virtual),
        description: fields
            .optional_text("description", MAX_DESCRIPTION_CHARS)?
            .unwrap_or_default(),
        on_shelf: fields.flag("on_shelf"),
    })
}

pub fn create(kv: &mut impl Kv, fields: &Fields<'_>) -> Result<Gift, HttpResponse> {
    let mut gift = terms(0, fields)?;
    if kv.keys(PREFIX, 250, MAX_GIFTS + 1).len() >= MAX_GIFTS {
        return Err(HttpResponse::conflict(
            "too_many_gifts",
            &format!("礼品最多{MAX_GIFTS}种，请先删除不再兑换的礼品 (at most {MAX_GIFTS} gifts)"),
        ));
    }
    let current = kv.counter(SEQ_KEY);
    gift.id = compare_and_add(kv, SEQ_KEY, current, 1).map_err(storage_failed)?;
    kv.put_json(&gift_key(gift.id), &gift)
        .map_err(storage_failed)?;
    Ok(gift)
}

pub fn update(kv: &mut impl Kv, id: i64, fields: &Fields<'_>) -> Result<Gift, HttpResponse> {
    if load(kv, id).is_none() {
        return Err(HttpResponse::not_found("礼品"));
    }
    let gift = terms(id, fields)?;
    kv.put_json(&gift_key(id), &gift).map_err(storage_failed)?;
    Ok(gift)
}

/// Deletes a gift (redemptions keep its name and points; rejecting one later gives no stock
/// back to a gift that is gone).
pub fn delete(kv: &mut impl Kv, id: i64) -> Result<Gift, HttpResponse> {
    let gift = load(kv, id).ok_or_else(|| HttpResponse::not_found("礼品"))?;
    kv.delete(&gift_key(id)).map_err(storage_failed)?;
    Ok(gift)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// 待审核: a physical gift waiting for staff.
    Pending,
    /// 待发货.
    Approved,
    Shipped,
    /// Points and stock given back.
    Rejected,
    /// A coupon, sent at once.
    Issued,
    /// A virtual gift, sent at once.
    Sent,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Pending,
        Status::Approved,
        Status::Shipped,
        Status::Rejected,
        Status::Issued,
        Status::Sent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Shipped => "shipped",
            Status::Rejected => "rejected",
            Status::Issued => "issued",
            Status::Sent => "sent",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Pending => "待审核",
            Status::Approved => "待发货",
            Status::Shipped => "已发货",
            Status::Rejected => "已驳回",
            Status::Issued => "已发放",
            Status::Sent => "已发送",
        }
    }

    /// Waiting for staff: listed oldest first.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Pending | Status::Approved)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    pub phone: String,
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redemption {
    /// `<member>-<seq>`.
    pub id: String,
    pub member: i64,
    pub seq: i64,
    pub gift: i64,
    /// The gift's name and points when it was redeemed.
    pub name: String,
    pub points: i64,
    pub kind: Kind,
    pub status: Status,
    /// Where a physical gift goes.
    #[serde(default)]
    pub address: Option<Contact>,
    pub at: i64,
    /// When it entered its status.
    pub status_at: i64,
    /// What the member was sent (a virtual gift's text, the coupon), or staff's reason.
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub coupon_template_id: Option<i64>,
    #[serde(default)]
    pub carrier: String,
    #[serde(default)]
    pub tracking: String,
}

fn redemption_key(member: i64, seq: i64) -> String {
    format!("red:{member:010}:{seq:012}")
}
fn member_prefix(member: i64) -> String {
    format!("red:{member:010}:")
}
const FINISHED_BASE: i64 = 9_999_999_999_999;
fn status_prefix(status: Status) -> String {
    format!("rs:{}:", status.as_str())
}
fn status_key(redemption: &Redemption) -> String {
    let order = if redemption.status.is_open() {
        redemption.status_at
    } else {
        FINISHED_BASE.saturating_sub(redemption.status_at)
    };
    format!(
        "{}{:013}:{:010}:{:012}",
        status_prefix(redemption.status),
        order.max(0),
        redemption.member,
        redemption.seq
    )
}

/// `42-7` → (42, 7).
pub fn parse_id(id: &str) -> Option<(i64, i64)> {
    let (member, seq) = id.split_once('-')?;
    let member = member.parse::<i64>().ok().filter(|m| *m > 0)?;
    let seq = seq.parse::<i64>().ok().filter(|s| *s > 0)?;
    Some((member, seq))
}

pub fn load_redemption(kv: &impl Kv, id: &str) -> Option<Redemption> {
    let (member, seq) = parse_id(id)?;
    kv.get_json(&redemption_key(member, seq))
}

fn save(
    kv: &mut impl Kv,
    redemption: &Redemption,
    previous: Option<&Redemption>,
) -> Result<(), String> {
    if let Some(previous) = previous {
        kv.delete(&status_key(previous))?;
    }
    kv.put_json(
        &redemption_key(redemption.member, redemption.seq),
        redemption,
    )?;
    kv.put(&status_key(redemption), b"1")
}

/// The redemptions in `status`, waiting ones oldest first, finished ones newest first.
pub fn by_status(kv: &impl Kv, status: Status, most: usize) -> Vec<Redemption> {
    kv.keys(&status_prefix(status), 200, most)
        .iter()
        .filter_map(|key| {
            let mut parts = key.rsplit(':');
            let seq = parts.next()?.parse::<i64>().ok()?;
            let member = parts.next()?.parse::<i64>().ok()?;
            kv.get_json::<Redemption>(&redemption_key(member, seq))
        })
        .collect()
}

pub fn count_by_status(kv: &impl Kv, status: Status) -> usize {
    kv.keys(&status_prefix(status), 1000, 1000).len()
}

/// The member's redemptions, newest first: the keys are read (not parsed) and only the
/// newest `most` records fetched, so a long history costs no parsing.
pub fn of_member(kv: &impl Kv, member: i64, most: usize) -> Vec<Redemption> {
    let keys = kv.keys(&member_prefix(member), 500, 5000);
    keys.iter()
        .rev()
        .take(most)
        .filter_map(|key| kv.get_json::<Redemption>(key))
        .collect()
}

fn contact(fields: &Fields<'_>) -> Result<Contact, HttpResponse> {
    let name = fields.text("name", 20)?;
    let phone = fields.text("phone", 20)?;
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    if digits < 5
        || !phone
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' '))
    {
        return Err(refused("phone", "请填写正确的联系电话 (a phone number)"));
    }
    let address = fields.text("address", 200)?;
    Ok(Contact {
        name,
        phone,
        address,
    })
}

/// What a redemption answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    pub redemption: Redemption,
    pub balance: i64,
}

/// A member redeems a gift: the stock and the points are taken in one call (bounded counters:
/// they commit together or not at all, so concurrent redemptions of the last units never
/// oversell and never spend the same points twice).
pub fn redeem(
    kv: &mut (impl Kv + Emit),
    member: i64,
    gift_id: i64,
    fields: &Fields<'_>,
    now: i64,
) -> Result<Redeemed, HttpResponse> {
    let gift = load(kv, gift_id).ok_or_else(|| HttpResponse::not_found("礼品"))?;
    if !gift.on_shelf {
        return Err(HttpResponse::conflict(
            "off_shelf",
            "礼品已下架 (the gift is off the shelf)",
        ));
    }
    let address = match gift.kind {
        Kind::Physical => Some(contact(fields)?),
        _ => None,
    };
    let insufficient =
        || HttpResponse::conflict("insufficient_points", "积分不足 (not enough points)");
    if account::balance(kv, member) < gift.points {
        return Err(insufficient());
    }
    let taken = kv
        .add_bounded(&taken_key(gift.id), 1, 0, gift.stock)
        .map_err(storage_failed)?;
    if taken.is_none() {
        return Err(HttpResponse::conflict(
            "sold_out",
            "礼品已兑完 (the gift is sold out)",
        ));
    }
    let seq = account::next_seq(kv, member).map_err(storage_failed)?;
    let Some(balance) = account::take_points(
        kv,
        member,
        gift.points,
        seq,
        now,
        account::SOURCE_REDEEMED,
        &gift.name,
    )
    .map_err(storage_failed)?
    else {
        // Not committed by the kernel after a refusal; put back for storage that keeps it.
        kv.add_bounded(&taken_key(gift.id), -1, 0, i64::MAX)
            .map_err(storage_failed)?;
        return Err(insufficient());
    };
    let status = match gift.kind {
        Kind::Physical => Status::Pending,
        Kind::Coupon => Status::Issued,
        Kind::Virtual => Status::Sent,
    };
    let redemption = Redemption {
        id: format!("{member}-{seq}"),
        member,
        seq,
        gift: gift.id,
        name: gift.name.clone(),
        points: gift.points,
        kind: gift.kind,
        status,
        address,
        at: now,
        status_at: now,
        note: gift.virtual_text.clone().unwrap_or_default(),
        coupon_template_id: gift.coupon_template_id,
        carrier: String::new(),
        tracking: String::new(),
    };
    save(kv, &redemption, None).map_err(storage_failed)?;
    stats::add(kv, stats::USED, gift.points).map_err(storage_failed)?;
    kv.add_bounded(&redeemed_key(gift.id), 1, i64::MIN, i64::MAX)
        .map_err(storage_failed)?;
    let sent = match gift.kind {
        Kind::Physical => None,
        Kind::Coupon => Some(json!({
            "member_id": member,
            "redemption_id": redemption.id,
            "gift_id": gift.id,
            "coupon_template_id": gift.coupon_template_id,
            "text": format!("您兑换的{}已发放到优惠券", gift.name),
        })),
        Kind::Virtual => Some(json!({
            "member_id": member,
            "redemption_id": redemption.id,
            "gift_id": gift.id,
            "text": format!("您兑换的{}：{}", gift.name, gift.virtual_text.as_deref().unwrap_or_default()),
        })),
    };
    if let Some(payload) = sent {
        kv.emit("gift_redeemed", &payload).map_err(storage_failed)?;
    }
    Ok(Redeemed {
        redemption,
        balance,
    })
}

fn wrong_status(redemption: &Redemption, what: &str) -> HttpResponse {
    HttpResponse::conflict(
        "invalid_status",
        &format!(
            "兑换单{}{}，不能{what} (not possible in this status)",
            redemption.id,
            redemption.status.label()
        ),
    )
}

fn existing(kv: &impl Kv, id: &str) -> Result<Redemption, HttpResponse> {
    load_redemption(kv, id).ok_or_else(|| HttpResponse::not_found("兑换单"))
}

fn moved(
    kv: &mut impl Kv,
    previous: &Redemption,
    next: Redemption,
) -> Result<Redemption, HttpResponse> {
    save(kv, &next, Some(previous)).map_err(storage_failed)?;
    Ok(next)
}

/// 通过: a physical redemption waiting for review is to be shipped.
pub fn approve(kv: &mut impl Kv, id: &str, now: i64) -> Result<Redemption, HttpResponse> {
    let redemption = existing(kv, id)?;
    if redemption.status != Status::Pending {
        return Err(wrong_status(&redemption, "审核通过"));
    }
    let next = Redemption {
        status: Status::Approved,
        status_at: now,
        ..redemption.clone()
    };
    moved(kv, &redemption, next)
}

/// 发货, with the carrier and the tracking number the member is sent.
pub fn ship(
    kv: &mut (impl Kv + Emit),
    id: &str,
    fields: &Fields<'_>,
    now: i64,
) -> Result<Redemption, HttpResponse> {
    let redemption = existing(kv, id)?;
    if redemption.status != Status::Approved {
        return Err(wrong_status(&redemption, "发货"));
    }
    let carrier = fields.text("carrier", 30)?;
    let tracking = fields.text("tracking", 50)?;
    let next = Redemption {
        status: Status::Shipped,
        status_at: now,
        carrier: carrier.clone(),
        tracking: tracking.clone(),
        ..redemption.clone()
    };
    let next = moved(kv, &redemption, next)?;
    kv.emit(
        "gift_shipped",
        &json!({
            "member_id": next.member,
            "redemption_id": next.id,
            "text": format!("您兑换的{}已发货，{carrier}运单号{tracking}", next.name),
        }),
    )
    .map_err(storage_failed)?;
    Ok(next)
}

/// 驳回: the points come back (兑换退回; those whose lots expired meanwhile expire), and so
/// does the stock.
pub fn reject(
    kv: &mut (impl Kv + Emit),
    id: &str,
    fields: &Fields<'_>,
    now: i64,
) -> Result<Redemption, HttpResponse> {
    let redemption = existing(kv, id)?;
    if !redemption.status.is_open() {
        return Err(wrong_status(&redemption, "驳回"));
    }
    let reason = fields
        .optional_text("reason", 100)?
        .unwrap_or_else(|| "未通过审核".to_owned());
    let back = account::give_back(
        kv,
        redemption.member,
        redemption.points,
        now,
        account::SOURCE_REDEEM_RETURNED,
        &redemption.name,
    )
    .map_err(storage_failed)?;
    stats::add(kv, stats::USED, redemption.points.saturating_neg()).map_err(storage_failed)?;
    if load(kv, redemption.gift).is_some() {
        kv.add_bounded(&taken_key(redemption.gift), -1, 0, i64::MAX)
            .map_err(storage_failed)?;
    }
    kv.add_bounded(&redeemed_key(redemption.gift), -1, i64::MIN, i64::MAX)
        .map_err(storage_failed)?;
    let next = Redemption {
        status: Status::Rejected,
        status_at: now,
        note: reason.clone(),
        ..redemption.clone()
    };
    let next = moved(kv, &redemption, next)?;
    kv.emit(
        "gift_rejected",
        &json!({
            "member_id": next.member,
            "redemption_id": next.id,
            "text": format!("您兑换的{}未通过审核：{reason}。{}积分已退回，当前积分{}", next.name, next.points, back.balance),
        }),
    )
    .map_err(storage_failed)?;
    Ok(next)
}

#[cfg(test)]
pub mod tests {
    use pifa_sdk::MemoryKv;
    use serde_json::{Value, json};

    use super::*;
    use crate::account::{balance, balance_key, ledger};

    pub fn physical(stock: i64) -> Value {
        json!({"name": "保温杯", "image": "/api/v1/images/cup.webp", "points": 500, "stock": stock,
               "kind": "physical", "description": "304不锈钢", "on_shelf": true})
    }

    fn address() -> Value {
        json!({"name": "张三", "phone": "138 0000 0000", "address": "杭州市西湖区文三路1号"})
    }

    fn funded(member: i64, points: i64) -> MemoryKv {
        let mut kv = MemoryKv::default();
        account::add_points(
            &mut kv,
            member,
            points,
            0,
            crate::settings::Settings::default(),
            "订单1完成",
            "",
        )
        .unwrap();
        kv
    }

    #[test]
    fn staff_keep_gifts_within_their_bounds() {
        let mut kv = MemoryKv::default();
        let gift = create(&mut kv, &Fields::of(&physical(3))).unwrap();
        assert_eq!(gift.id, 1);
        assert!(gift.on_shelf);
        let mut changed = physical(5);
        changed["on_shelf"] = Value::Null;
        let changed = update(&mut kv, 1, &Fields::of(&changed)).unwrap();
        assert_eq!((changed.stock, changed.on_shelf), (5, false));
        let cases = [
            (
                "name",
                json!("一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一"),
            ),
            ("image", json!("https://evil.example/x.png")),
            ("points", json!(0)),
            ("points", json!(10_000_001)),
            ("stock", json!(-1)),
            ("kind", json!("service")),
            ("description", json!("字".repeat(201))),
        ];
        for (field, value) in cases {
            let mut body = physical(1);
            body[field] = value;
            let refused = create(&mut kv, &Fields::of(&body)).unwrap_err();
            assert_eq!(
                (refused.status, refused.body["error"]["field"].as_str()),
                (422, Some(field))
            );
        }
        let mut coupon = physical(1);
        coupon["kind"] = json!("coupon");
        assert_eq!(
            create(&mut kv, &Fields::of(&coupon)).unwrap_err().body["error"]["field"],
            "coupon_template_id"
        );
        coupon["kind"] = json!("virtual");
        assert_eq!(
            create(&mut kv, &Fields::of(&coupon)).unwrap_err().body["error"]["field"],
            "virtual_text"
        );
        assert_eq!(load_all(&kv).len(), 1);
        assert!(delete(&mut kv, 1).is_ok());
        assert_eq!(
            update(&mut kv, 1, &Fields::of(&physical(1)))
                .unwrap_err()
                .status,
            404
        );
    }

    #[test]
    fn at_most_two_hundred_gifts() {
        let mut kv = MemoryKv::default();
        for _ in 0..MAX_GIFTS {
            create(&mut kv, &Fields::of(&physical(1))).unwrap();
        }
        let refused = create(&mut kv, &Fields::of(&physical(1))).unwrap_err();
        assert_eq!(refused.body["error"]["code"], "too_many_gifts");
    }

    #[test]
    fn a_physical_gift_is_redeemed_reviewed_and_shipped() {
        let mut kv = funded(42, 1200);
        create(&mut kv, &Fields::of(&physical(3))).unwrap();
        let done = redeem(&mut kv, 42, 1, &Fields::of(&address()), 1000).unwrap();
        assert_eq!(done.balance, 700);
        let redemption = &done.redemption;
        assert_eq!(
            (redemption.id.as_str(), redemption.status),
            ("42-2", Status::Pending)
        );
        assert_eq!(
            redemption.address.as_ref().map(|a| a.phone.as_str()),
            Some("138 0000 0000")
        );
        let entry = &ledger(&kv, 42, 1)[0];
        assert_eq!(
            (
                entry.source.as_str(),
                entry.change,
                entry.balance,
                entry.note.as_str()
            ),
            ("兑换礼品", -500, 700, "保温杯")
        );
        assert_eq!(kv.counter(&taken_key(1)), 1);
        assert_eq!(by_status(&kv, Status::Pending, 10).len(), 1);
        assert!(kv.emitted.is_empty());

        assert_eq!(
            ship(
                &mut kv,
                "42-2",
                &Fields::of(&json!({"carrier": "顺丰", "tracking": "SF1"})),
                2000
            )
            .unwrap_err()
            .status,
            409
        );
        approve(&mut kv, "42-2", 2000).unwrap();
        assert_eq!(
            approve(&mut kv, "42-2", 2000).unwrap_err().body["error"]["code"],
            "invalid_status"
        );
        assert!(by_status(&kv, Status::Pending, 10).is_empty());
        assert_eq!(
            ship(
                &mut kv,
                "42-2",
                &Fields::of(&json!({"carrier": "顺丰"})),
                3000
            )
            .unwrap_err()
            .body["error"]["field"],
            "tracking"
        );
        let shipped = ship(
            &mut kv,
            "42-2",
            &Fields::of(&json!({"carrier": "顺丰", "tracking": "SF1"})),
            3000,
        )
        .unwrap();
        assert_eq!(shipped.status, Status::Shipped);
        assert_eq!(
            kv.emitted[0].1["text"],
            "您兑换的保温杯已发货，顺丰运单号SF1"
        );
        assert_eq!(by_status(&kv, Status::Shipped, 10), vec![shipped.clone()]);
        assert_eq!(of_member(&kv, 42, 10), vec![shipped]);
        assert_eq!(
            reject(&mut kv, "42-2", &Fields::of(&json!({})), 4000)
                .unwrap_err()
                .status,
            409
        );
        assert_eq!(kv.counter(&redeemed_key(1)), 1);
        assert_eq!(stats::read(&kv).used, 500);
    }

    #[test]
    fn a_physical_gift_needs_where_to_send_it() {
        let mut kv = funded(42, 1200);
        create(&mut kv, &Fields::of(&physical(3))).unwrap();
        for (field, value) in [
            ("name", json!("")),
            ("phone", json!("abc")),
            ("address", Value::Null),
        ] {
            let mut body = address();
            body[field] = value;
            let refused = redeem(&mut kv, 42, 1, &Fields::of(&body), 0).unwrap_err();
            assert_eq!(refused.body["error"]["field"], field);
        }
        assert_eq!(balance(&kv, 42), 1200);
        assert_eq!(kv.counter(&taken_key(1)), 0);
    }

    #[test]
    fn a_rejected_redemption_gives_the_points_and_the_stock_back() {
        let mut kv = funded(42, 500);
        create(&mut kv, &Fields::of(&physical(1))).unwrap();
        redeem(&mut kv, 42, 1, &Fields::of(&address()), 1000).unwrap();
        let rejected = reject(
            &mut kv,
            "42-2",
            &Fields::of(&json!({"reason": "地址不在配送范围"})),
            2000,
        )
        .unwrap();
        assert_eq!(
            (rejected.status, rejected.note.as_str()),
            (Status::Rejected, "地址不在配送范围")
        );
        assert_eq!(balance(&kv, 42), 500);
        assert_eq!(kv.counter(&taken_key(1)), 0);
        assert_eq!(kv.counter(&redeemed_key(1)), 0);
        assert_eq!(stats::read(&kv).used, 0);
        let entry = &ledger(&kv, 42, 1)[0];
        assert_eq!(
            (entry.source.as_str(), entry.change, entry.balance),
            ("兑换退回", 500, 500)
        );
        assert_eq!(
            kv.emitted[0].1["text"],
            "您兑换的保温杯未通过审核：地址不在配送范围。500积分已退回，当前积分500"
        );
        assert_eq!(
            reject(&mut kv, "42-2", &Fields::of(&json!({})), 3000)
                .unwrap_err()
                .status,
            409
        );
        assert_eq!(
            reject(&mut kv, "42-9", &Fields::of(&json!({})), 3000)
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(approve(&mut kv, "nonsense", 3000).unwrap_err().status, 404);
    }

    #[test]
    fn coupons_and_virtual_gifts_are_sent_at_once() {
        let mut kv = funded(42, 1000);
        let mut coupon = physical(5);
        coupon["kind"] = json!("coupon");
        coupon["coupon_template_id"] = json!(9);
        coupon["name"] = json!("满100减10券");
        coupon["points"] = json!(100);
        create(&mut kv, &Fields::of(&coupon)).unwrap();
        let mut code = physical(5);
        code["kind"] = json!("virtual");
        code["virtual_text"] = json!("兑换码 ABC-123，请在官网激活");
        code["name"] = json!("视频会员月卡");
        code["points"] = json!(200);
        create(&mut kv, &Fields::of(&code)).unwrap();

        let issued = redeem(&mut kv, 42, 1, &Fields::of(&json!({})), 10).unwrap();
        assert_eq!(issued.redemption.status, Status::Issued);
        assert_eq!(
            kv.emitted[0],
            (
                "gift_redeemed".to_owned(),
                json!({"member_id": 42, "redemption_id": "42-2", "gift_id": 1, "coupon_template_id": 9,
                       "text": "您兑换的满100减10券已发放到优惠券"})
            )
        );
        let sent = redeem(&mut kv, 42, 2, &Fields::of(&json!({})), 20).unwrap();
        assert_eq!((sent.redemption.status, sent.balance), (Status::Sent, 700));
        assert_eq!(
            kv.emitted[1].1["text"],
            "您兑换的视频会员月卡：兑换码 ABC-123，请在官网激活"
        );
        assert_eq!(kv.emitted[1].1.get("coupon_template_id"), None);
        // Finished ones are listed newest first.
        let ids: Vec<String> = of_member(&kv, 42, 10).into_iter().map(|r| r.id).collect();
        assert_eq!(ids, vec!["42-3".to_owned(), "42-2".to_owned()]);
        assert_eq!(
            reject(&mut kv, "42-2", &Fields::of(&json!({})), 30)
                .unwrap_err()
                .status,
            409
        );
    }

    #[test]
    fn redemption_is_bounded_by_the_stock_and_the_points() {
        let mut kv = funded(42, 1200);
        kv.counters.insert(balance_key(43), 400);
        create(&mut kv, &Fields::of(&physical(2))).unwrap();
        let refused = redeem(&mut kv, 43, 1, &Fields::of(&address()), 0).unwrap_err();
        assert_eq!(
            (refused.status, refused.body["error"]["code"].as_str()),
            (409, Some("insufficient_points"))
        );
        assert!(
            refused.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("积分不足"))
        );
        redeem(&mut kv, 42, 1, &Fields::of(&address()), 0).unwrap();
        kv.counters.insert(balance_key(43), 900);
        redeem(&mut kv, 43, 1, &Fields::of(&address()), 0).unwrap();
        let refused = redeem(&mut kv, 42, 1, &Fields::of(&address()), 0).unwrap_err();
        assert_eq!(
            (refused.status, refused.body["error"]["code"].as_str()),
            (409, Some("sold_out"))
        );
        assert!(
            refused.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("礼品已兑完"))
        );
        assert_eq!((balance(&kv, 42), balance(&kv, 43)), (700, 400));
        assert_eq!(kv.counter(&taken_key(1)), 2);
        // What makes concurrent redemptions safe: the bounds each call leaves for the commit.
        let mut kv = funded(42, 1200);
        create(&mut kv, &Fields::of(&physical(3))).unwrap();
        kv.counters.insert(taken_key(1), 3);
        assert_eq!(
            redeem(&mut kv, 42, 1, &Fields::of(&address()), 0)
                .unwrap_err()
                .body["error"]["code"],
            "sold_out"
        );
        assert_eq!(balance(&kv, 42), 1200);
        // Off the shelf, or unknown.
        let mut off = physical(3);
        off["on_shelf"] = json!(false);
        update(&mut kv, 1, &Fields::of(&off)).unwrap();
        assert_eq!(
            redeem(&mut kv, 42, 1, &Fields::of(&address()), 0)
                .unwrap_err()
                .body["error"]["code"],
            "off_shelf"
        );
        assert_eq!(
            redeem(&mut kv, 42, 2, &Fields::of(&address()), 0)
                .unwrap_err()
                .status,
            404
        );
    }

    #[test]
    fn ids_name_the_member_and_the_sequence() {
        assert_eq!(parse_id("42-7"), Some((42, 7)));
        for wrong in ["42", "-7", "42-", "a-1", "0-1", "42-0"] {
            assert_eq!(parse_id(wrong), None, "{wrong}");
        }
    }
}
