-- Source table of mart_uni_tracking_info: one row per order, its current tracking state.
-- update_time (unix seconds) changes on every update; it is the version and the watermark.
CREATE TABLE uni_tracking_info (
  order_id      BIGINT UNSIGNED NOT NULL,
  tracking_no   VARCHAR(40)     NOT NULL,
  partner_id    INT             NOT NULL,
  carrier_code  VARCHAR(16)     NULL,
  status        TINYINT         NOT NULL,
  last_code     SMALLINT        NULL,
  last_event    VARCHAR(255)    NULL,
  last_location VARCHAR(128)    NULL,
  delivered_at  DATETIME        NULL,
  add_time      INT             NOT NULL,
  update_time   INT             NOT NULL,
  PRIMARY KEY (order_id),
  KEY idx_update_time (update_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
