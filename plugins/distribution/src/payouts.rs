//! Payouts (I2, 提现): a promoter asks for part of his balance, staff pay it (通过) or turn it
//! down (驳回, the amount goes back to the balance). The amount leaves the balance when he asks,
//! through `add_bounded(balance, −amount, 0, MAX)`: two requests cannot together take more than
//! he has, and a refund's reversal cannot take what a request already took.
//!
//! Bounds: at least the setting `min_payout_fen` a request, at most [`MAX_PENDING`] waiting
//! per promoter (the bounded counter `pending-count:<promoter>`), and each payout decided once
//! (the counter `payout-open:<id>` goes from 1 to 0 exactly once, so of an approval and a
//! rejection racing only one commits). The latest [`MAX_KEPT`] requests of each promoter are
//! kept; older decided ones are deleted as new ones come.

use pifa_sdk::input::{refused, yuan};
use pifa_sdk::{HttpResponse, Kv};
use serde::{Deserialize, Serialize};

use crate::ledger::{self, Entry};
use crate::store::{PAYOUT_SEQ_KEY, claim_seq};

pub const MAX_PENDING: i64 = 5;
/// Requests kept per promoter.
pub const MAX_KEPT: i64 = 100;
pub const MAX_NOTE_CHARS: usize = 60;
pub const MAX_REMARK_CHARS: usize = 100;
/// ¥100,000,000.00: more than any balance, a bound for what a form may say.
pub const MAX_PAYOUT_FEN: i64 = 10_000_000_000;
/// Requests a staff list shows.
pub const MAX_LISTED: u32 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Paid,
    Rejected,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Pending, Status::Paid, Status::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Paid => "paid",
            Status::Rejected => "rejected",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Pending => "待审核",
            Status::Paid => "已打款",
            Status::Rejected => "已驳回",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub id: i64,
    pub promoter: i64,
    pub amount_fen: i64,
    /// Where to pay: 「微信」, 「银行卡尾号1234」.
    pub note: String,
    pub status: Status,
    pub at: i64,
    #[serde(default)]
    pub decided_at: Option<i64>,
    #[serde(default)]
    pub decided_by: Option<i64>,
    /// Staff's remark when paying, or the reason for turning it down.
    #[serde(default)]
    pub remark: String,
}

fn payout_key(id: i64) -> String {
    format!("payout:{id:010}")
}

fn pending_key(id: i64) -> String {
    format!("pending:{id:010}")
}

fn open_key(id: i64) -> String {
    format!("payout-open:{id}")
}

fn pending_count_key(promoter: i64) -> String {
    format!("pending-count:{promoter}")
}

fn count_key(promoter: i64) -> String {
    format!("payout-count:{promoter}")
}

fn mine_prefix(promoter: i64) -> String {
    format!("mine-payout:{promoter:010}:")
}

fn mine_key(promoter: i64, n: i64) -> String {
    format!("{}{n:06}", mine_prefix(promoter))
}

pub fn load(kv: &impl Kv, id: i64) -> Option<Payout> {
    kv.get_json(&payout_key(id))
}

fn storage(error: String) -> HttpResponse {
    HttpResponse::storage_failed(error)
}

fn insufficient() -> HttpResponse {
    HttpResponse::conflict(
        "insufficient_balance",
        "可提现佣金不足 (the withdrawable commission is not enough)",
    )
}

fn too_many_pending() -> HttpResponse {
    HttpResponse::conflict(
        "too_many_pending",
        &format!(
            "待审核的提现申请最多{MAX_PENDING}笔，请等处理后再申请 (at most {MAX_PENDING} requests may wait)"
        ),
    )
}

fn not_pending() -> HttpResponse {
    HttpResponse::conflict(
        "not_pending",
        "该提现申请已处理 (the request was already decided)",
    )
}

/// A promoter asks for `amount_fen` of his balance, to be paid to `note`.
pub fn request(
    kv: &mut impl Kv,
    promoter: i64,
    amount_fen: i64,
    note: String,
    min_payout_fen: i64,
    now_ms: i64,
) -> Result<Payout, HttpResponse> {
    if amount_fen < min_payout_fen {
        let least = yuan(min_payout_fen);
        return Err(refused(
            "amount_fen",
            &format!("单次提现至少{least} (at least {least})"),
        ));
    }
    if kv.counter(&pending_count_key(promoter)) >= MAX_PENDING {
        return Err(too_many_pending());
    }
    let balance = ledger::move_balance(kv, promoter, -amount_fen)
        .map_err(storage)?
        .ok_or_else(insufficient)?;
    // Checked again as a bound: two requests racing for the last place cannot both commit.
    kv.add_bounded(&pending_count_key(promoter), 1, 0, MAX_PENDING)
        .map_err(storage)?
        .ok_or_else(too_many_pending)?;
    let id = claim_seq(kv, PAYOUT_SEQ_KEY).map_err(storage)?;
    let payout = Payout {
        id,
        promoter,
        amount_fen,
        note,
        status: Status::Pending,
        at: now_ms,
        decided_at: None,
        decided_by: None,
        remark: String::new(),
    };
    kv.put_json(&payout_key(id), &payout).map_err(storage)?;
    kv.put_json(&pending_key(id), &promoter).map_err(storage)?;
    kv.add_bounded(&open_key(id), 1, 1, 1)
        .map_err(storage)?
        .ok_or_else(|| storage(format!("payout {id} was already open")))?;
    let n = claim_seq(kv, &count_key(promoter)).map_err(storage)?;
    kv.put_json(&mine_key(promoter, n), &id).map_err(storage)?;
    if n > MAX_KEPT {
        forget(kv, promoter, n - MAX_KEPT).map_err(storage)?;
    }
    ledger::append(
        kv,
        promoter,
        &Entry {
            at: now_ms,
            kind: ledger::PAYOUT_REQUESTED.to_owned(),
            change: -amount_fen,
            balance,
            payout_id: Some(id),
            ..Entry::default()
        },
    )
    .map_err(storage)?;
    Ok(payout)
}

/// Deletes the promoter's `n`-th request once it is decided (one still waiting is kept: staff
/// must still see it).
fn forget(kv: &mut impl Kv, promoter: i64, n: i64) -> Result<(), String> {
    let key = mine_key(promoter, n);
    let Some(id) = kv.get_json::<i64>(&key) else {
        return Ok(());
    };
    if load(kv, id).is_some_and(|payout| payout.status == Status::Pending) {
        return Ok(());
    }
    kv.delete(&payout_key(id))?;
    kv.delete(&key)
}

/// Staff decide a waiting request: the payout record, after the bound that makes the decision
/// happen once.
fn decide(
    kv: &mut impl Kv,
    id: i64,
    by: i64,
    status: Status,
    remark: String,
    now_ms: i64,
) -> Result<Payout, HttpResponse> {
    let mut payout = load(kv, id).ok_or_else(|| HttpResponse::not_found("提现申请"))?;
    if payout.status != Status::Pending {
        return Err(not_pending());
    }
    kv.add_bounded(&open_key(id), -1, 0, 0)
        .map_err(storage)?
        .ok_or_else(not_pending)?;
    // The count only frees a place; a count already at 0 (it cannot be, short of a bug) must
    // not stop staff from deciding.
    kv.add_bounded(&pending_count_key(payout.promoter), -1, 0, MAX_PENDING)
        .map_err(storage)?;
    kv.delete(&pending_key(id)).map_err(storage)?;
    payout.status = status;
    payout.decided_at = Some(now_ms);
    payout.decided_by = Some(by);
    payout.remark = remark;
    kv.put_json(&payout_key(id), &payout).map_err(storage)?;
    Ok(payout)
}

/// 通过: staff paid it (outside the shop: WeChat, a bank transfer).
pub fn approve(
    kv: &mut impl Kv,
    id: i64,
    by: i64,
    remark: String,
    now_ms: i64,
) -> Result<Payout, HttpResponse> {
    decide(kv, id, by, Status::Paid, remark, now_ms)
}

/// 驳回: the amount goes back to the balance.
pub fn reject(
    kv: &mut impl Kv,
    id: i64,
    by: i64,
    reason: String,
    now_ms: i64,
) -> Result<Payout, HttpResponse> {
    let payout = decide(kv, id, by, Status::Rejected, reason, now_ms)?;
    let balance = ledger::move_balance(kv, payout.promoter, payout.amount_fen)
        .map_err(storage)?
        .ok_or_else(|| {
            storage(format!(
                "the balance of promoter {} would overflow",
                payout.promoter
            ))
        })?;
    ledger::append(
        kv,
        payout.promoter,
        &Entry {
            at: now_ms,
            kind: ledger::PAYOUT_RETURNED.to_owned(),
            change: payout.amount_fen,
            balance,
            payout_id: Some(payout.id),
            note: payout.remark.clone(),
            ..Entry::default()
        },
    )
    .map_err(storage)?;
    Ok(payout)
}

/// The requests waiting, oldest first (the order staff should work in).
pub fn waiting(kv: &impl Kv) -> Vec<Payout> {
    kv.keys("pending:", MAX_LISTED, MAX_LISTED as usize)
        .iter()
        .filter_map(|key| key.strip_prefix("pending:")?.parse::<i64>().ok())
        .filter_map(|id| load(kv, id))
        .collect()
}

/// The latest requests of everyone, newest first, of `status` when one is given.
pub fn recent(kv: &impl Kv, status: Option<Status>) -> Vec<Payout> {
    if status == Some(Status::Pending) {
        return waiting(kv);
    }
    let last = kv.counter(PAYOUT_SEQ_KEY);
    let first_after = last.saturating_sub(i64::from(MAX_LISTED));
    let after = (first_after > 0).then(|| payout_key(first_after));
    let mut payouts: Vec<Payout> = kv
        .scan("payout:", after.as_deref(), MAX_LISTED)
        .into_iter()
        .filter_map(|(_, bytes)| serde_json::from_slice::<Payout>(&bytes).ok())
        .filter(|payout| status.is_none_or(|status| payout.status == status))
        .collect();
    payouts.reverse();
    payouts
}

/// The promoter's latest `most` requests, newest first.
pub fn of_promoter(kv: &impl Kv, promoter: i64, most: u32) -> Vec<Payout> {
    let last = kv.counter(&count_key(promoter));
    let first_after = last.saturating_sub(i64::from(most));
    let after = (first_after > 0).then(|| mine_key(promoter, first_after));
    let mut payouts: Vec<Payout> = kv
        .scan(&mine_prefix(promoter), after.as_deref(), most)
        .into_iter()
        .filter_map(|(_, bytes)| serde_json::from_slice::<i64>(&bytes).ok())
        .filter_map(|id| load(kv, id))
        .collect();
    payouts.reverse();
    payouts
}

#[cfg(test)]
mod tests {
    use pifa_sdk::MemoryKv;

    use super::*;

    const NOW: i64 = 1_778_378_400_000;

    fn funded(balance: i64) -> MemoryKv {
        let mut kv = MemoryKv::default();
        ledger::move_balance(&mut kv, 7, balance).unwrap();
        kv
    }

    fn ask(kv: &mut MemoryKv, amount: i64) -> Result<Payout, HttpResponse> {
        request(kv, 7, amount, "微信".to_owned(), 10_000, NOW)
    }

    fn code(refusal: HttpResponse) -> (u16, String) {
        (
            refusal.status,
            refusal.body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }

    /// I2: a request takes the amount from the balance at once, with a ledger line.
    #[test]
    fn a_request_takes_the_amount_from_the_balance() {
        let mut kv = funded(30_000);
        let payout = ask(&mut kv, 12_000).unwrap();
        assert_eq!(
            (payout.id, payout.status, payout.amount_fen),
            (1, Status::Pending, 12_000)
        );
        assert_eq!(ledger::balance(&kv, 7), 18_000);
        let entry = &ledger::latest(&kv, 7, 1)[0];
        assert_eq!(
            (
                entry.kind.as_str(),
                entry.change,
                entry.balance,
                entry.payout_id
            ),
            ("提现申请", -12_000, 18_000, Some(1))
        );
        assert_eq!(waiting(&kv), vec![payout.clone()]);
        assert_eq!(of_promoter(&kv, 7, 20), vec![payout]);
        assert_eq!(kv.counter("payout-open:1"), 1);
    }

    /// I2: never more than the balance, never less than the minimum.
    #[test]
    fn a_request_beyond_the_balance_or_below_the_minimum_is_refused() {
        let mut kv = funded(15_000);
        assert_eq!(
            code(ask(&mut kv, 15_001).unwrap_err()),
            (409, "insufficient_balance".to_owned())
        );
        let below = ask(&mut kv, 9_999).unwrap_err();
        assert_eq!(code(below.clone()), (422, "invalid_field".to_owned()));
        assert_eq!(below.body["error"]["field"], "amount_fen");
        assert!(
            below.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("¥100.00")
        );
        assert_eq!(ledger::balance(&kv, 7), 15_000, "nothing taken");
        ask(&mut kv, 15_000).unwrap();
        assert_eq!(ledger::balance(&kv, 7), 0);
        assert_eq!(
            code(ask(&mut kv, 10_000).unwrap_err()),
            (409, "insufficient_balance".to_owned())
        );
    }

    #[test]
    fn at_most_five_requests_wait_per_promoter() {
        let mut kv = funded(100_000);
        for _ in 0..MAX_PENDING {
            ask(&mut kv, 10_000).unwrap();
        }
        assert_eq!(
            code(ask(&mut kv, 10_000).unwrap_err()),
            (409, "too_many_pending".to_owned())
        );
        assert_eq!(ledger::balance(&kv, 7), 50_000);
        // Another promoter is not held up by him.
        ledger::move_balance(&mut kv, 8, 10_000).unwrap();
        assert!(request(&mut kv, 8, 10_000, "银行卡尾号1234".to_owned(), 10_000, NOW).is_ok());
        // Deciding one frees a place.
        approve(&mut kv, 1, 1, String::new(), NOW).unwrap();
        assert!(ask(&mut kv, 10_000).is_ok());
        // The bound itself, as the kernel checks it at commit for two racing requests: the
        // count is at 5 again, so a sixth cannot be added.
        assert_eq!(
            kv.add_bounded("pending-count:7", 1, 0, MAX_PENDING),
            Ok(None)
        );
    }

    #[test]
    fn approving_pays_and_rejecting_returns_the_amount_once() {
        let mut kv = funded(50_000);
        ask(&mut kv, 10_000).unwrap();
        ask(&mut kv, 20_000).unwrap();
        let paid = approve(&mut kv, 1, 99, "已转微信".to_owned(), NOW + 1).unwrap();
        assert_eq!(
            (paid.status, paid.decided_by, paid.remark.as_str()),
            (Status::Paid, Some(99), "已转微信")
        );
        assert_eq!(ledger::balance(&kv, 7), 20_000, "paid money stays out");
        let rejected = reject(&mut kv, 2, 99, "账户信息不全".to_owned(), NOW + 2).unwrap();
        assert_eq!(rejected.status, Status::Rejected);
        assert_eq!(ledger::balance(&kv, 7), 40_000);
        let entry = &ledger::latest(&kv, 7, 1)[0];
        assert_eq!(
            (entry.kind.as_str(), entry.change, entry.note.as_str()),
            ("提现驳回退回", 20_000, "账户信息不全")
        );
        // Decided once: again (either way) is refused and moves nothing.
        for again in [
            reject(&mut kv, 1, 99, "x".to_owned(), NOW),
            approve(&mut kv, 2, 99, String::new(), NOW),
            reject(&mut kv, 2, 99, "x".to_owned(), NOW),
        ] {
            assert_eq!(code(again.unwrap_err()), (409, "not_pending".to_owned()));
        }
        assert_eq!(ledger::balance(&kv, 7), 40_000);
        assert_eq!(
            code(approve(&mut kv, 9, 99, String::new(), NOW).unwrap_err()),
            (404, "not_found".to_owned())
        );
        assert!(waiting(&kv).is_empty());
        assert_eq!(kv.counter("pending-count:7"), 0);
        let ids: Vec<i64> = recent(&kv, None).iter().map(|p| p.id).collect();
        assert_eq!(ids, vec![2, 1]);
        assert_eq!(recent(&kv, Some(Status::Paid)).len(), 1);
    }

    /// The race the counter `payout-open:<id>` settles: an approval and a rejection of the same
    /// request both read it pending; the one committing second breaks the bound.
    #[test]
    fn of_two_racing_decisions_only_one_commits() {
        let mut kv = funded(10_000);
        ask(&mut kv, 10_000).unwrap();
        let before = kv.clone();
        approve(&mut kv, 1, 99, String::new(), NOW).unwrap();
        // The rejection read the same state; the bound it sets no longer holds.
        assert_eq!(kv.add_bounded("payout-open:1", -1, 0, 0), Ok(None));
        assert_eq!(before.counter("payout-open:1"), 1);
    }

    #[test]
    fn old_decided_requests_are_forgotten_and_the_newest_listed_first() {
        let mut kv = funded(10_000 * (MAX_KEPT + 5));
        for id in 1..=MAX_KEPT + 5 {
            ask(&mut kv, 10_000).unwrap();
            approve(&mut kv, id, 99, String::new(), NOW).unwrap();
        }
        assert_eq!(kv.keys("mine-payout:", 500, 500).len(), MAX_KEPT as usize);
        assert_eq!(kv.keys("payout:", 500, 500).len(), MAX_KEPT as usize);
        assert!(load(&kv, 5).is_none() && load(&kv, 6).is_some());
        let mine = of_promoter(&kv, 7, 20);
        assert_eq!(mine.len(), 20);
        assert_eq!(mine.first().map(|p| p.id), Some(MAX_KEPT + 5));
        assert_eq!(recent(&kv, None).len(), MAX_KEPT as usize);
    }

    #[test]
    fn a_request_and_a_decision_stay_well_within_the_write_quota() {
        let mut kv = funded(10_000 * (MAX_KEPT + 1));
        for id in 1..=MAX_KEPT {
            ask(&mut kv, 10_000).unwrap();
            approve(&mut kv, id, 99, String::new(), NOW).unwrap();
        }
        kv.counters
            .insert("ledger-seq:7".to_owned(), ledger::MAX_ENTRIES + 7);
        // The request that forgets the oldest one and prunes the ledger: the most writes.
        kv.writes_left = Some(13);
        ask(&mut kv, 10_000).unwrap();
        assert_eq!(kv.writes_left, Some(0), "13 writes exactly");
        kv.writes_left = Some(8);
        reject(&mut kv, MAX_KEPT + 1, 99, "x".to_owned(), NOW).unwrap();
        assert_eq!(kv.writes_left, Some(0), "8 writes exactly");
    }

    #[test]
    fn a_waiting_request_is_never_forgotten() {
        let mut kv = funded(10_000 * (MAX_KEPT + 1));
        ask(&mut kv, 10_000).unwrap();
        for id in 2..=MAX_KEPT + 1 {
            ask(&mut kv, 10_000).unwrap();
            approve(&mut kv, id, 99, String::new(), NOW).unwrap();
        }
        assert_eq!(load(&kv, 1).map(|p| p.status), Some(Status::Pending));
        assert_eq!(waiting(&kv).len(), 1);
    }
}
