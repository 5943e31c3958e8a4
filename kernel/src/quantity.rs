//! How many items (件, 把, 箱 as the line's unit says): what stock, reservations and owed items
//! are counted in (see `ids` for how such an integer type is made).

crate::ids::integer_type!(
    /// A count of items, never below zero where it is stored.
    Quantity
);

impl Quantity {
    pub const ZERO: Quantity = Quantity(0);
}

// Counts on the order path stay within `orders::quote::MAX_QTY` (a million) per line, so sums
// and differences of them cannot overflow.
impl std::ops::Add for Quantity {
    type Output = Quantity;
    fn add(self, other: Quantity) -> Quantity {
        Quantity(self.0 + other.0)
    }
}

impl std::ops::Sub for Quantity {
    type Output = Quantity;
    fn sub(self, other: Quantity) -> Quantity {
        Quantity(self.0 - other.0)
    }
}

impl std::ops::AddAssign for Quantity {
    fn add_assign(&mut self, other: Quantity) {
        self.0 += other.0;
    }
}

impl std::iter::Sum for Quantity {
    fn sum<I: Iterator<Item = Quantity>>(items: I) -> Quantity {
        Quantity(items.map(Quantity::get).sum())
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
