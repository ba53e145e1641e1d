-- The marts' primary query (the seed's 3-way join): delivery events (code 200) of some
-- partners' orders since 2026-06-20, with each order's tracking and ecs rows. The partner
-- filter is on the order (`eoi.partner_id`, the ecs mart's leading sort key), as in the seed.
-- `martsync bench --scenario primary-query` times it cold and warm.
SELECT u.order_id, u.tracking_no, u.status, eoi.order_no, eoi.dest_country, s.pathtime, s.location
FROM mart_uni_tracking_info u
JOIN mart_ecs_order_info eoi ON eoi.order_id = u.order_id
JOIN mart_uni_tracking_spath s ON s.order_id = u.order_id
WHERE s.code = 200
  AND eoi.partner_id IN (3, 7, 11, 19)
  AND s.pathtime >= 1781913600;
