//! Product search (C4). Chinese has no spaces, so names and descriptions are segmented into
//! words with jieba when a product is written, and stored with the pinyin initials of its name
//! (安全帽 → aqm). SQLite indexes them with FTS5 and ranks with bm25; PostgreSQL with a weighted
//! tsvector, name matches ranked first. A query is segmented the same way; every word must match.

use std::sync::LazyLock;

use jieba_rs::Jieba;
use pinyin::ToPinyin;

use super::Product;
use crate::store::{Backend, StoreError, StoreResult, in_tx, on_pool};

/// Loading the dictionary takes a moment: once per process, on first use.
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Warms the segmenter so the first search does not pay for the dictionary.
pub fn warm_up() {
    LazyLock::force(&JIEBA);
}

/// The words of `text` for indexing and querying: jieba's search segmentation (words and their
/// sub-words), ASCII lower-cased, punctuation dropped.
pub fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for token in JIEBA.cut_for_search(text, true) {
        let word: String = token
            .word
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_lowercase();
        if !word.is_empty() && !out.contains(&word) {
            out.push(word);
        }
    }
    out
}

/// Pinyin initials of every Chinese word of `name`, and of the whole name (安全帽 ABS 工地 →
/// `aqm gd aqmgd`), so typing the first letters finds a product.
pub fn initials(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut whole = String::new();
    for token in JIEBA.cut(name, true) {
        let letters: String = token
            .word
            .to_pinyin()
            .flatten()
            .map(|p| p.first_letter())
            .collect();
        if !letters.is_empty() {
            whole.push_str(&letters);
            if !out.contains(&letters) {
                out.push(letters);
            }
        }
    }
    if !whole.is_empty() && !out.contains(&whole) {
        out.push(whole);
    }
    out
}

/// What the index holds for one product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDoc {
    pub name_tokens: String,
    pub body_tokens: String,
    pub initials: String,
}

impl SearchDoc {
    /// `labels`: the names of its categories and tags.
    pub fn of(product: &Product, brand: Option<&str>, labels: &[String]) -> SearchDoc {
        let mut body = vec![product.item_no.clone(), product.description.clone()];
        body.extend(brand.map(str::to_owned));
        body.extend(labels.iter().cloned());
        for sku in &product.skus {
            body.push(sku.model.clone());
            body.push(sku.spec.clone());
            body.extend(sku.barcode.clone());
        }
        SearchDoc {
            name_tokens: words(&product.name).join(" "),
            body_tokens: words(&body.join(" ")).join(" "),
            initials: initials(&product.name).join(" "),
        }
    }
}

/// A query in each backend's syntax, every word required; ASCII words also match as prefixes
/// (typing `aqm` finds `aqmgd`). `None` when the query has no words.
pub fn match_expression(backend: Backend, query: &str) -> Option<String> {
    let terms = words(query);
    if terms.is_empty() {
        return None;
    }
    let parts: Vec<String> = terms
        .iter()
        .map(|term| {
            let prefix = term.chars().all(|c| c.is_ascii_alphabetic());
            match backend {
                Backend::Sqlite => format!(
                    "\"{}\"{}",
                    term.replace('"', "\"\""),
                    if prefix { "*" } else { "" }
                ),
                Backend::Postgres => format!(
                    "'{}'{}",
                    term.replace('\'', "''"),
                    if prefix { ":*" } else { "" }
                ),
            }
        })
        .collect();
    Some(parts.join(match backend {
        Backend::Sqlite => " ",
        Backend::Postgres => " & ",
    }))
}

impl super::CatalogStore<'_> {
    /// Rebuilds one product's index entry from what is stored (after any write to it).
    pub async fn reindex_product(self, id: i64) -> StoreResult<()> {
        self.reindex_products(&[id]).await
    }

    /// Rebuilds the index entries of many products: brands and categories are read once, the
    /// products in pages of 500, each page written in one transaction.
    pub async fn reindex_products(self, ids: &[i64]) -> StoreResult<()> {
        let brands = self.list_brands().await?;
        let categories = self.list_categories().await?;
        let tags = self.list_product_tags().await?;
        let (delete, insert) = match self.backend() {
            Backend::Sqlite => (
                "DELETE FROM product_fts WHERE rowid = $1",
                "INSERT INTO product_fts (rowid, name_tokens, body_tokens, initials) VALUES ($1, $2, $3, $4)",
            ),
            Backend::Postgres => (
                "DELETE FROM product_search WHERE product_id = $1",
                "INSERT INTO product_search (product_id, name_tokens, body_tokens, initials, on_shelf) SELECT $1, $2, $3, $4, on_shelf FROM products WHERE id = $1",
            ),
        };
        for page in ids.chunks(500) {
            let products = self.products_by_ids(page).await?;
            // Segmenting is CPU work: done before the write transaction, not inside it.
            let docs: Vec<(crate::ids::ProductId, SearchDoc)> = products
                .iter()
                .map(|product| {
                    let brand = product
                        .brand_id
                        .and_then(|id| brands.iter().find(|b| b.id == id))
                        .map(|b| b.name.as_str());
                    // Found by its categories' names and its tags' names too.
                    // A product is found by its categories' names.
                    let mut labels = super::category_path(&categories, product.category_id);
                    labels.extend(
                        tags.iter()
                            .filter(|t| product.tag_ids.contains(&t.id))
                            .map(|t| t.name.clone()),
                    );
                    (product.id, SearchDoc::of(product, brand, &labels))
                })
                .collect();
            in_tx!(self, |tx| {
                for (id, doc) in &docs {
                    sqlx::query(delete).bind(id).execute(&mut *tx).await?;
                    sqlx::query(insert)
                        .bind(id)
                        .bind(&doc.name_tokens)
                        .bind(&doc.body_tokens)
                        .bind(&doc.initials)
                        .execute(&mut *tx)
                        .await?;
                }
                Ok::<_, StoreError>(())
            })?;
        }
        // A search read between the products' write and this one would be kept without
        // what was just indexed.
        if !ids.is_empty() {
            self.changed(crate::store::Change::Library).await;
        }
        Ok(())
    }

    /// After a bulk write of `rows` rows, PostgreSQL tidies at once rather than whenever
    /// autovacuum comes by: the GIN indexes' pending lists (new entries kept unsorted, read
    /// linearly by every search: 1.7 ms instead of 0.3 ms per index scan after a 10,000-row
    /// import) are merged, and the planner's statistics refreshed. SQLite's FTS5 needs neither.
    pub async fn refresh_statistics_after(self, rows: usize) {
        const BULK_ROWS: usize = 1_000;
        if rows < BULK_ROWS {
            return;
        }
        if let crate::store::Db::Postgres(pool) = &self.db
            && let Err(error) = sqlx::query("VACUUM (ANALYZE) product_search, products, skus")
                .execute(pool)
                .await
        {
            tracing::warn!(%error, "tidying the search index after an import failed");
        }
    }

    /// Rebuilds the whole index (after a restore, or with `pifa reindex`). Returns the count.
    pub async fn reindex_all(self) -> StoreResult<usize> {
        let ids: Vec<i64> = on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM products ORDER BY id"
        )
        .fetch_all(pool)
        .await)?;
        self.reindex_products(&ids).await?;
        Ok(ids.len())
    }

    /// The product holding the SKU with this barcode.
    pub async fn product_id_by_barcode(self, barcode: &str) -> StoreResult<Option<i64>> {
        Ok(on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT product_id FROM skus WHERE barcode = $1"
        )
        .bind(barcode)
        .fetch_optional(pool)
        .await)?)
    }

    /// Whether PostgreSQL's text parser keeps Chinese words (it does under UTF-8 locales).
    pub async fn search_supports_chinese(self) -> StoreResult<bool> {
        match self.backend() {
            Backend::Sqlite => Ok(true),
            Backend::Postgres => {
                let text: String = on_pool!(self, |pool| sqlx::query_scalar(
                    "SELECT to_tsvector('simple', '安全帽')::TEXT"
                )
                .fetch_one(pool)
                .await)?;
                Ok(text.contains("安全帽"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segmentation_and_initials() {
        assert!(
            words("劳保手套 浸胶耐磨").contains(&"手套".to_owned()),
            "{:?}",
            words("劳保手套 浸胶耐磨")
        );
        assert!(words("劳保手套").contains(&"劳保".to_owned()));
        let coating = words("防水涂料");
        assert!(
            coating.contains(&"防水".to_owned()) && coating.contains(&"涂料".to_owned()),
            "{coating:?}"
        );
        assert!(!coating.contains(&"水涂".to_owned()));
        assert!(
            initials("安全帽 ABS 工地").contains(&"aqm".to_owned()),
            "{:?}",
            initials("安全帽 ABS 工地")
        );
        assert_eq!(
            match_expression(Backend::Sqlite, "aqm").as_deref(),
            Some("\"aqm\"*")
        );
        assert_eq!(
            match_expression(Backend::Postgres, "it's").as_deref(),
            Some("'it':* & 's':*")
        );
        assert_eq!(match_expression(Backend::Sqlite, " ，。 "), None);
    }
}
