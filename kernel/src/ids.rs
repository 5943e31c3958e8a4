//! The ids the order path passes around, each its own type: an order id cannot be bound where
//! a member id belongs, nor a SKU's where its product's. Each is the row's `BIGINT` id.
//! `integer_type!` makes them, and the other integers with a meaning (`money::Fen`,
//! `quantity::Quantity`): the same integer in JSON (`serde(transparent)`), in the database
//! (`sqlx(transparent)`, both backends) and in the OpenAPI document.

/// A type for an integer with a meaning, as the module says.
macro_rules! integer_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            Default,
            serde::Serialize,
            serde::Deserialize,
            sqlx::Type,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// The integer, for what speaks integers (SQL built at run time, plugins, scripts).
            pub fn get(self) -> i64 {
                self.0
            }

        }

        impl From<$name> for i64 {
            fn from(value: $name) -> i64 {
                value.0
            }
        }

        impl $crate::ids::Integer for $name {
            fn get(self) -> i64 {
                self.0
            }
        }

        // Read back on checkout's direct SQLite connection as on sqlx's.
        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                i64::column_result(value).map($name)
            }
        }
    };
}
pub(crate) use integer_type;

/// What every `integer_type!` is: an integer underneath, bound as one (`store::batch::Arg`).
pub trait Integer: Copy {
    fn get(self) -> i64;
}

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        integer_type!($(#[$doc])* $name);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

ids! {
    /// An order (`orders.id`).
    OrderId;
    /// A member: the user who orders (`users.id` of a member).
    MemberId;
    /// A product (`products.id`).
    ProductId;
    /// One SKU of a product (`skus.id`): what stock and prices belong to.
    SkuId;
}
