-- Source table of mart_ecs_order_info: one row per order, written when the order is created.
-- add_time (unix seconds) is the watermark.
CREATE TABLE ecs_order_info (
  order_id       BIGINT UNSIGNED NOT NULL,
  order_no       VARCHAR(32)     NOT NULL,
  partner_id     INT             NOT NULL,
  customer_ref   VARCHAR(64)     NULL,
  dest_country   CHAR(2)         NOT NULL,
  weight_g       INT             NULL,
  declared_value DECIMAL(12,2)   NULL,
  currency       CHAR(3)         NULL,
  add_time       INT             NOT NULL,
  PRIMARY KEY (order_id),
  KEY idx_add_time (add_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
