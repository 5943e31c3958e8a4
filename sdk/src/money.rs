//! Sums of money a plugin works out: integer fen, never below zero, never more than there is.

/// `fen` spread over `lines` (each a key and its total) in proportion to their totals, rounded
/// down, the remainder to the last line; what a line has no room for goes to the lines before
/// it, so no line takes more than its total. Lines with no share are left out. `fen` should not
/// exceed the lines' sum: what none has room for is not given.
///
/// ```
/// assert_eq!(pifa_sdk::spread(50, &[(1, 100), (2, 100)]), vec![(1, 25), (2, 25)]);
/// ```
pub fn spread<K: Copy>(fen: i64, lines: &[(K, i64)]) -> Vec<(K, i64)> {
    let sum: i128 = lines.iter().map(|(_, total)| i128::from(*total)).sum();
    if sum <= 0 || fen <= 0 {
        return Vec::new();
    }
    let mut cuts: Vec<(K, i64)> = lines
        .iter()
        .map(|(key, total)| {
            let share = i128::from(fen) * i128::from(*total) / sum;
            // Never more than the line holds, should `fen` exceed the lines' sum.
            (*key, i64::try_from(share).unwrap_or(0).min(*total))
        })
        .collect();
    let mut left = fen.saturating_sub(
        cuts.iter()
            .map(|(_, cut)| *cut)
            .fold(0, i64::saturating_add),
    );
    // The last line first, then upwards: each takes what it still can.
    for ((_, cut), (_, total)) in cuts.iter_mut().zip(lines).rev() {
        let room = total.saturating_sub(*cut).max(0);
        let take = left.min(room);
        *cut = cut.saturating_add(take);
        left = left.saturating_sub(take);
    }
    cuts.retain(|(_, cut)| *cut > 0);
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_proportional_with_the_remainder_on_the_last_line() {
        assert_eq!(
            spread(1_000 - 1, &[(0, 333), (1, 333), (2, 333), (3, 1)]),
            vec![(0, 332), (1, 333), (2, 333), (3, 1)]
        );
        assert_eq!(spread(50, &[(0, 100), (1, 100)]), vec![(0, 25), (1, 25)]);
        assert_eq!(spread(0, &[(0, 100)]), vec![]);
        assert_eq!(spread(10, &[] as &[(u8, i64)]), vec![]);
    }

    #[test]
    fn no_line_goes_below_zero() {
        // Floors of 0 everywhere would leave 4 fen for a last line of 1 fen.
        let lines: Vec<(i64, i64)> = (1..=5).map(|n| (n, 1)).collect();
        assert_eq!(spread(4, &lines), vec![(2, 1), (3, 1), (4, 1), (5, 1)]);
        assert_eq!(spread(5, &lines).iter().map(|c| c.1).sum::<i64>(), 5);
        assert_eq!(
            spread(9, &[(1, 2), (2, 2)]),
            vec![(1, 2), (2, 2)],
            "no more than there is"
        );
    }

    #[test]
    fn a_large_sum_is_spread_without_overflow() {
        let shares = spread(i64::MAX / 2, &[(1, i64::MAX / 2), (2, i64::MAX / 2)]);
        assert_eq!(shares.iter().map(|c| c.1).sum::<i64>(), i64::MAX / 2);
    }
}
