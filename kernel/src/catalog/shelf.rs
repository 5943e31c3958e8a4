//! The shelf's copies (see `store::cache`): the category tree, the brands, and which products
//! each filter lists. Every storefront page reads them and they change only when staff edit the
//! catalogue, so a page of goods is answered without asking the database (the products
//! themselves are the products' room's).
//!
//! What clears them: a product's or the catalogue's change (a product added, moved, priced,
//! put on or off the shelf changes which filter lists it and in what order), and a change of
//! the library (`Change::Library`: categories, brands, the search index). Stock does not: no
//! filter or order reads it, and it moves with every order.

use std::sync::Arc;

use super::storage::ProductFilter;
use super::{Brand, Category};
use crate::store::Page;
use crate::store::{Change, Generation, Room};

/// At most this many filters' lists are kept (a search's words are part of its filter, so
/// the kinds are unbounded; the least used go first).
const MAX_LISTINGS: u64 = 10_000;

pub struct ShelfRoom {
    categories: moka::sync::Cache<(), Arc<Vec<Category>>>,
    brands: moka::sync::Cache<(), Arc<Vec<Brand>>>,
    listings: moka::sync::Cache<ProductFilter, Arc<Page<i64>>>,
}

impl Default for ShelfRoom {
    fn default() -> Self {
        ShelfRoom {
            categories: moka::sync::Cache::new(1),
            brands: moka::sync::Cache::new(1),
            listings: moka::sync::Cache::new(MAX_LISTINGS),
        }
    }
}

impl ShelfRoom {
    pub fn categories(&self) -> Option<Arc<Vec<Category>>> {
        self.categories.get(&())
    }

    pub fn keep_categories(&self, all: Arc<Vec<Category>>, generation: &Generation, read_at: u64) {
        generation.keep(&self.categories, (), all, read_at);
    }

    pub fn brands(&self) -> Option<Arc<Vec<Brand>>> {
        self.brands.get(&())
    }

    pub fn keep_brands(&self, all: Arc<Vec<Brand>>, generation: &Generation, read_at: u64) {
        generation.keep(&self.brands, (), all, read_at);
    }

    pub fn listing(&self, filter: &ProductFilter) -> Option<Arc<Page<i64>>> {
        self.listings.get(filter)
    }

    pub fn keep_listing(
        &self,
        filter: ProductFilter,
        page: Arc<Page<i64>>,
        generation: &Generation,
        read_at: u64,
    ) {
        generation.keep(&self.listings, filter, page, read_at);
    }
}

impl Room for ShelfRoom {
    fn apply(&self, change: &Change) {
        match change {
            Change::Library | Change::Everything => {
                self.categories.invalidate_all();
                self.brands.invalidate_all();
                self.listings.invalidate_all();
            }
            Change::Product(_) | Change::Catalogue => self.listings.invalidate_all(),
            Change::Stock(_)
            | Change::Accounts
            | Change::Settings
            | Change::PluginValues(_)
            | Change::PluginCounters(_)
            | Change::Inbox(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(ids: &[i64]) -> Arc<Page<i64>> {
        Arc::new(Page {
            items: ids.to_vec(),
            total: i64::try_from(ids.len()).unwrap(),
        })
    }

    #[test]
    fn a_product_change_clears_the_lists_but_stock_does_not() {
        let room = ShelfRoom::default();
        let generation = Generation::default();
        let filter = ProductFilter::default();
        room.keep_listing(filter.clone(), listed(&[1, 2]), &generation, 0);
        room.apply(&Change::Stock(vec![1]));
        assert_eq!(room.listing(&filter).unwrap().items, vec![1, 2]);
        room.apply(&Change::Product(2));
        assert!(room.listing(&filter).is_none());
    }

    #[test]
    fn a_library_change_clears_categories_and_brands() {
        let room = ShelfRoom::default();
        let generation = Generation::default();
        room.keep_categories(Arc::new(Vec::new()), &generation, 0);
        room.keep_brands(Arc::new(Vec::new()), &generation, 0);
        room.apply(&Change::Catalogue);
        assert!(room.categories().is_some(), "products moving keep the tree");
        room.apply(&Change::Library);
        assert!(room.categories().is_none() && room.brands().is_none());
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let room = ShelfRoom::default();
        let generation = Generation::default();
        let read_at = generation.current();
        generation.advance();
        room.keep_listing(ProductFilter::default(), listed(&[1]), &generation, read_at);
        assert!(room.listing(&ProductFilter::default()).is_none());
    }
}
