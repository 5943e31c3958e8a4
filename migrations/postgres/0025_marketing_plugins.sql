-- Marketing and loyalty plugins (issue 21, REQUIREMENTS G2, G3, H1, I2).
-- A gift line (满赠) is a line of its SKU given at price 0; a final-sale adjustment (清仓)
-- makes its line one after-sales refuses to take back; the line's brand and its category
-- with the categories above it, and the member's level, are kept as they were when the order
-- was placed, for the plugins' order events (commission by goods or level, points on goods).
ALTER TABLE order_lines ADD COLUMN gift BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE order_lines ADD COLUMN brand_id BIGINT;
ALTER TABLE order_lines ADD COLUMN category_ids TEXT NOT NULL DEFAULT '[]';
ALTER TABLE order_adjustments ADD COLUMN final_sale BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE orders ADD COLUMN level_id BIGINT;
