-- Source table of mart_uni_tracking_spath: one row per tracking event of an order.
-- An event is identified by (order_id, traceSeq, pathTime); pathTime (unix seconds) is the
-- watermark. time_modified changes when an event is corrected (is_updated = 1).
CREATE TABLE uni_tracking_spath (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  order_id      BIGINT UNSIGNED NOT NULL,
  traceSeq      INT             NOT NULL,
  pathTime      INT             NOT NULL,
  code          SMALLINT        NOT NULL,
  location      VARCHAR(128)    NULL,
  description   VARCHAR(512)    NULL,
  is_updated    TINYINT(1)      NOT NULL DEFAULT 0,
  time_modified TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_pathTime (pathTime),
  KEY idx_time_modified (time_modified)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
