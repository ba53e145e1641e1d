//! The type mapping against a real MariaDB: every row of the mapping table, and the edge
//! cases (zero dates, unsigned overflow, DECIMAL(38,10) extremes, 4-byte UTF-8, latin1,
//! NULL in every type, empty strings), decoded by the MySQL source into Arrow; and how an
//! extraction asks the server for its rows (the watermark index it may force).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, TimeUnit};
use arrow::util::display::array_value_to_string;
use futures::TryStreamExt;
use martsync::config::{Strategy, TableConfig};
use martsync::schema::{TableSchema, UnsignedBigint};
use martsync::source::mysql::MySqlSource;
use martsync::source::{Extract, ExtractCounters, Source};

use crate::common::{MyDb, service_url};

/// (column, MySQL type, Arrow type the mapping must give, inserted SQL literal, how the
/// Arrow value must print). Each case is one row, with its column set and the others NULL.
fn cases() -> Vec<(
    &'static str,
    &'static str,
    DataType,
    &'static str,
    &'static str,
)> {
    let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    vec![
        ("c_tinyint", "TINYINT", DataType::Int16, "-128", "-128"),
        (
            "c_tinyint_u",
            "TINYINT UNSIGNED",
            DataType::Int16,
            "255",
            "255",
        ),
        ("c_bool", "TINYINT(1)", DataType::Int16, "1", "1"),
        (
            "c_smallint",
            "SMALLINT",
            DataType::Int16,
            "-32768",
            "-32768",
        ),
        (
            "c_smallint_u",
            "SMALLINT UNSIGNED",
            DataType::Int32,
            "65535",
            "65535",
        ),
        (
            "c_mediumint",
            "MEDIUMINT",
            DataType::Int32,
            "-8388608",
            "-8388608",
        ),
        (
            "c_int",
            "INT",
            DataType::Int32,
            "-2147483648",
            "-2147483648",
        ),
        (
            "c_int_u",
            "INT UNSIGNED",
            DataType::Int64,
            "4294967295",
            "4294967295",
        ),
        (
            "c_bigint",
            "BIGINT",
            DataType::Int64,
            "-9223372036854775808",
            "-9223372036854775808",
        ),
        (
            "c_bigint_u",
            "BIGINT UNSIGNED",
            DataType::Int64,
            "9223372036854775807",
            "9223372036854775807",
        ),
        (
            "c_dec_max",
            "DECIMAL(38,10)",
            DataType::Decimal128(38, 10),
            "9999999999999999999999999999.9999999999",
            "9999999999999999999999999999.9999999999",
        ),
        (
            "c_dec_min",
            "DECIMAL(38,10)",
            DataType::Decimal128(38, 10),
            "-9999999999999999999999999999.9999999999",
            "-9999999999999999999999999999.9999999999",
        ),
        (
            "c_dec_tiny",
            "DECIMAL(38,10)",
            DataType::Decimal128(38, 10),
            "0.0000000001",
            "0.0000000001",
        ),
        (
            "c_money",
            "DECIMAL(12,2)",
            DataType::Decimal128(12, 2),
            "-12.5",
            "-12.50",
        ),
        ("c_float", "FLOAT", DataType::Float32, "1.5", "1.5"),
        ("c_double", "DOUBLE", DataType::Float64, "-2.25", "-2.25"),
        ("c_char", "CHAR(2)", DataType::Utf8, "'US'", "US"),
        (
            "c_varchar",
            "VARCHAR(40)",
            DataType::Utf8,
            "'héllo wörld'",
            "héllo wörld",
        ),
        (
            "c_emoji",
            "VARCHAR(8) CHARACTER SET utf8mb4",
            DataType::Utf8,
            "'📦🚚'",
            "📦🚚",
        ),
        ("c_empty", "VARCHAR(8)", DataType::Utf8, "''", ""),
        (
            "c_latin1",
            "VARCHAR(20) CHARACTER SET latin1",
            DataType::Utf8,
            "'café'",
            "café",
        ),
        ("c_text", "TEXT", DataType::Utf8, "'long text'", "long text"),
        ("c_enum", "ENUM('a','b')", DataType::Utf8, "'b'", "b"),
        ("c_set", "SET('x','y')", DataType::Utf8, "'x,y'", "x,y"),
        (
            "c_json",
            "JSON",
            DataType::Utf8,
            "'{\"k\": 1}'",
            "{\"k\": 1}",
        ),
        (
            "c_time",
            "TIME",
            DataType::Utf8,
            "'-838:59:59'",
            "-838:59:59",
        ),
        ("c_year", "YEAR", DataType::Int16, "2026", "2026"),
        (
            "c_date",
            "DATE",
            DataType::Date32,
            "'2026-02-28'",
            "2026-02-28",
        ),
        (
            "c_date_old",
            "DATE",
            DataType::Date32,
            "'1000-01-01'",
            "1000-01-01",
        ),
        (
            "c_datetime",
            "DATETIME(6)",
            micros.clone(),
            "'2026-11-26 15:30:00.123456'",
            "2026-11-26T15:30:00.123456",
        ),
        (
            "c_datetime0",
            "DATETIME",
            micros,
            "'9999-12-31 23:59:59'",
            "9999-12-31T23:59:59",
        ),
        (
            "c_timestamp",
            "TIMESTAMP(3) NULL",
            utc,
            "'2026-11-26 15:30:00.250'",
            "2026-11-26T15:30:00.250Z",
        ),
        (
            "c_varbinary",
            "VARBINARY(8)",
            DataType::Binary,
            "X'00FF10'",
            "00ff10",
        ),
        (
            "c_blob",
            "BLOB",
            DataType::Binary,
            "X'DEADBEEF'",
            "deadbeef",
        ),
        ("c_bit", "BIT(8)", DataType::Int64, "b'10000001'", "129"),
    ]
}

/// A table config for extracting all of `schema` (append, keyed by `id`).
fn table_config(schema: TableSchema) -> TableConfig {
    TableConfig {
        name: format!("mart_{}", schema.name),
        schema,
        strategy: Strategy::Append,
        key: vec!["id".into()],
        version: None,
        watermark: "id".into(),
        lookback: Duration::ZERO,
        retention: None,
        retention_column: "id".into(),
        max_rejected: 0,
        allow_new_columns: false,
        targets: Vec::new(),
        refresh_from: None,
        replace_only: false,
        version_guard: Default::default(),
        sort_key: vec!["id".into()],
        dist_key: "id".into(),
        delete_missing: None,
        max_deletes: martsync::config::MaxDeletes::Percent(10.0),
        dedup: Default::default(),
    }
}

/// A source on the test's database and a config extracting all of its table `name`.
async fn source_and_table(
    db: &MyDb,
    name: &str,
    unsigned: UnsignedBigint,
) -> (MySqlSource, TableConfig) {
    let source = MySqlSource::new(&db.url, 1024, unsigned).unwrap();
    let table = table_config(source.describe_table(name).await.unwrap());
    (source, table)
}

async fn extract(
    source: &MySqlSource,
    table: &TableConfig,
) -> (martsync::Result<Vec<RecordBatch>>, u64) {
    let counters = Arc::new(ExtractCounters::default());
    let extract = Extract {
        above: None,
        below: None,
        keys: None,
        counters: Arc::clone(&counters),
        for_dedup: false,
    };
    let batches = match source.extract(table, extract).await {
        Ok(stream) => stream.try_collect().await,
        Err(e) => Err(e),
    };
    (batches, counters.zero_dates.load(Ordering::Relaxed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mapped_type_decodes_from_mariadb() {
    let Some(base) = service_url("MARTSYNC_TEST_MYSQL_URL") else {
        return;
    };
    let db = MyDb::new(&base).await;
    let cases = cases();
    let columns: Vec<String> = cases.iter().map(|(c, t, ..)| format!("{c} {t}")).collect();
    db.exec(&format!(
        "CREATE TABLE types (id INT PRIMARY KEY, {}) DEFAULT CHARSET=utf8mb4",
        columns.join(", ")
    ))
    .await;
    for (i, (column, _, _, literal, _)) in cases.iter().enumerate() {
        db.exec(&format!(
            "INSERT INTO types (id, {column}) VALUES ({i}, {literal})"
        ))
        .await;
    }
    // One row with NULL in every column.
    db.exec(&format!("INSERT INTO types (id) VALUES ({})", cases.len()))
        .await;

    // A small batch size, so rows cross batch boundaries.
    let source = MySqlSource::new(&db.url, 7, UnsignedBigint::Int64).unwrap();
    let schema = source.describe_table("types").await.unwrap();
    for (column, mysql_type, arrow, ..) in &cases {
        let found = schema.column(column).unwrap();
        assert_eq!(&found.mapped.arrow, arrow, "{column} {mysql_type}");
    }
    let table = table_config(schema);
    let (batches, zero_dates) = extract(&source, &table).await;
    let batches = batches.unwrap();
    assert_eq!(zero_dates, 0);
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(batch.num_rows(), cases.len() + 1);
    // martsync's own reader decoded them; mysql_async's rows (what a server wanting a TLS
    // client certificate or another auth plugin is read through) must give the very same
    // batches, in plain and over TLS, and so must the own reader over TLS.
    let tls_url = format!("{}?ssl-mode=REQUIRED", db.url);
    let tls = || MySqlSource::new(&tls_url, 7, UnsignedBigint::Int64).unwrap();
    let others = [
        ("mysql_async rows", source.through_mysql_async(), true),
        ("TLS", tls(), false),
        (
            "mysql_async rows over TLS",
            tls().through_mysql_async(),
            true,
        ),
    ];
    for (what, source, through_mysql_async) in others {
        let (other, zero_dates) = extract(&source, &table).await;
        let other = other.unwrap();
        let other = arrow::compute::concat_batches(&other[0].schema(), &other).unwrap();
        assert_eq!(other, batch, "{what}");
        assert_eq!(zero_dates, 0, "{what}");
        assert_eq!(
            source.reads_through_mysql_async().is_some(),
            through_mysql_async,
            "{what}: {:?}",
            source.reads_through_mysql_async()
        );
    }
    // The server's certificate is signed by the services' test CA, for 127.0.0.1: verified
    // with that CA as `ssl-ca`, the own reader reads the same batches; without it, the
    // extraction fails naming the certificate, and nothing falls back to another reader or
    // to plain TCP.
    if let Some(ca) = service_url("MARTSYNC_TEST_MYSQL_CA") {
        for mode in ["VERIFY_CA", "VERIFY_IDENTITY"] {
            let url = format!("{}?ssl-mode={mode}&ssl-ca={ca}", db.url);
            let verified = MySqlSource::new(&url, 7, UnsignedBigint::Int64).unwrap();
            let (other, _) = extract(&verified, &table).await;
            let other = other.unwrap_or_else(|e| panic!("{mode} with ssl-ca: {e}"));
            let other = arrow::compute::concat_batches(&other[0].schema(), &other).unwrap();
            assert_eq!(other, batch, "{mode} with ssl-ca");
            assert_eq!(verified.reads_through_mysql_async(), None, "{mode}");
        }
    }
    let verify_url = format!("{}?ssl-mode=VERIFY_IDENTITY", db.url);
    let verifying = MySqlSource::new(&verify_url, 7, UnsignedBigint::Int64).unwrap();
    let (refused, _) = extract(&verifying, &table).await;
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("certificate"), "{message}");
    assert_eq!(verifying.reads_through_mysql_async(), None);
    let ids = batch.column(0);
    for row in 0..batch.num_rows() {
        let id: usize = array_value_to_string(ids, row).unwrap().parse().unwrap();
        for (c, (column, mysql_type, _, literal, expected)) in cases.iter().enumerate() {
            let value = batch.column(c + 1);
            if id == c {
                assert_eq!(
                    array_value_to_string(value, row).unwrap(),
                    *expected,
                    "{column} {mysql_type} = {literal}"
                );
            } else {
                assert!(value.is_null(row), "{column} should be NULL in row {id}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_dates_become_null_and_are_counted() {
    let Some(base) = service_url("MARTSYNC_TEST_MYSQL_URL") else {
        return;
    };
    let db = MyDb::new(&base).await;
    db.exec(
        "SET SESSION sql_mode = '';
         CREATE TABLE dates (id INT PRIMARY KEY, d DATE NULL, dt DATETIME NULL);
         INSERT INTO dates VALUES (1, '0000-00-00', '0000-00-00 00:00:00'),
                                  (2, '2026-01-00', '2026-05-01 10:00:00'),
                                  (3, '2026-01-02', NULL)",
    )
    .await;
    let (source, table) = source_and_table(&db, "dates", UnsignedBigint::Int64).await;
    for source in [source, mysql_async_rows_source(&db, UnsignedBigint::Int64)] {
        let (batches, zero_dates) = extract(&source, &table).await;
        let batch = &batches.unwrap()[0];
        assert_eq!(zero_dates, 3, "two zero dates and one zero day");
        let shown: Vec<String> = (0..3)
            .map(|r| {
                (1..3)
                    .map(|c| array_value_to_string(batch.column(c), r).unwrap())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        assert_eq!(shown, [",", ",2026-05-01T10:00:00", "2026-01-02,"]);
    }
}

/// The same source read through mysql_async's rows instead of martsync's own reader.
fn mysql_async_rows_source(db: &MyDb, unsigned: UnsignedBigint) -> MySqlSource {
    MySqlSource::new(&db.url, 1024, unsigned)
        .unwrap()
        .through_mysql_async()
}

/// A row longer than one protocol packet (16 MiB) arrives whole, and one whose payload fills
/// a packet exactly (the protocol then sends an empty packet after it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_longer_than_one_packet_arrives_whole() {
    use mysql_async::prelude::Queryable;
    let Some(base) = service_url("MARTSYNC_TEST_MYSQL_URL") else {
        return;
    };
    let db = MyDb::new(&base).await;
    // The server's default (16 MiB) refuses such rows; raising it only widens what other
    // tests may send. Connections made after this see it.
    db.exec("SET GLOBAL max_allowed_packet = 67108864").await;
    let mut conn = mysql_async::Conn::from_url(db.url.as_str()).await.unwrap();
    // Row 2's payload: header 1 + NULL bitmap 1 + id 4 + length 4 + text = 0xFF_FFFF bytes.
    let exact = 0xFF_FFFF - 10;
    conn.query_drop(format!(
        "CREATE TABLE big_text (id INT PRIMARY KEY, t LONGTEXT);
         INSERT INTO big_text VALUES (1, REPEAT('x', 17000000)), (2, REPEAT('y', {exact})),
                                     (3, 'small')"
    ))
    .await
    .unwrap();
    let (source, table) = source_and_table(&db, "big_text", UnsignedBigint::Int64).await;
    let (batches, _) = extract(&source, &table).await;
    let batches = batches.unwrap();
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let text = batch
        .column(1)
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap();
    let lengths: Vec<usize> = (0..3).map(|r| text.value(r).len()).collect();
    assert_eq!(lengths, [17_000_000, exact, 5]);
    assert!(text.value(0).bytes().all(|b| b == b'x'));
    assert!(text.value(1).bytes().all(|b| b == b'y'));
    assert_eq!(text.value(2), "small");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_bigint_above_i64_is_an_error_or_numeric() {
    let Some(base) = service_url("MARTSYNC_TEST_MYSQL_URL") else {
        return;
    };
    let db = MyDb::new(&base).await;
    db.exec(
        "CREATE TABLE big (id BIGINT UNSIGNED PRIMARY KEY, v BIGINT UNSIGNED);
         INSERT INTO big VALUES (1, 5), (2, 18446744073709551615)",
    )
    .await;
    let (source, table) = source_and_table(&db, "big", UnsignedBigint::Int64).await;
    for source in [source, mysql_async_rows_source(&db, UnsignedBigint::Int64)] {
        let error = extract(&source, &table).await.0.unwrap_err().to_string();
        for word in [
            "big",
            "`v`",
            "id = 2",
            "18446744073709551615",
            "unsigned_bigint",
        ] {
            assert!(error.contains(word), "{word} missing from: {error}");
        }
    }

    let (source, table) = source_and_table(&db, "big", UnsignedBigint::Numeric).await;
    assert_eq!(
        table.schema.columns[1].mapped.arrow,
        DataType::Decimal128(20, 0)
    );
    let batch = &extract(&source, &table).await.0.unwrap()[0];
    assert_eq!(
        array_value_to_string(batch.column(1), 1).unwrap(),
        "18446744073709551615"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_schema_drift_is_named() {
    let Some(base) = service_url("MARTSYNC_TEST_MYSQL_URL") else {
        return;
    };
    let db = MyDb::new(&base).await;
    db.create_sources().await;
    db.exec("ALTER TABLE uni_tracking_info DROP COLUMN last_location")
        .await;
    let source = MySqlSource::new(&db.url, 1024, UnsignedBigint::Int64).unwrap();
    let config = crate::common::parse_config("");
    let uti = &config.tables[0];
    let error = extract(&source, uti).await.0.unwrap_err().to_string();
    for word in ["uni_tracking_info", "last_location", "missing"] {
        assert!(error.contains(word), "{word} missing from: {error}");
    }
    let missing = MySqlSource::new(&db.url, 1024, UnsignedBigint::Int64)
        .unwrap()
        .describe_table("no_such_table")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("no_such_table") && missing.contains("does not exist"),
        "{missing}"
    );
    assert!(!missing.contains(":martsync@"), "password in: {missing}");
}

/// A column added to the source table fails the cycle naming it, and changes nothing; with
/// `allow_new_columns` the mart gains the column (NULL in older rows) and its values. On a
/// DuckDB and (when available) a PostgreSQL warehouse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_source_column_is_an_error_unless_allowed_then_added_to_the_mart() {
    let Some(url) = service_url("MARTSYNC_TEST_MYSQL_URL") else {
        return;
    };
    let mut warehouses = vec![None];
    if let Some(pg) = service_url("MARTSYNC_TEST_POSTGRES_URL") {
        warehouses.push(Some(crate::common::PgSchema::new(&pg).await));
    }
    for pg in warehouses {
        let db = sources_with_orders(&url, 50).await;
        let ws = crate::common::Workspace::new();
        let warehouse = match &pg {
            Some(schema) => schema.url.clone(),
            None => format!("duckdb://{}", ws.warehouse().display()),
        };
        let config = |allow: bool| {
            let path = ws.path("drift.toml");
            std::fs::write(
                &path,
                crate::common::service_config(
                    &db.url,
                    &format!("file://{}", ws.path("stage").display()),
                    &warehouse,
                    &format!(
                        "[[tables]]\nname = \"mart_uni_tracking_info\"\nallow_new_columns = {allow}\n"
                    ),
                ),
            )
            .unwrap();
            path.display().to_string()
        };
        let run = |config: String| crate::common::martsync(ws.dir.path(), &["run", "-c", &config]);
        assert!(run(config(false)).status.success());
        let whole = "SELECT CAST(order_id AS VARCHAR) || ':' || CAST(update_time AS VARCHAR) \
                     FROM mart_uni_tracking_info";
        let mart = async |sql: &str| match &pg {
            Some(schema) => schema.rows(sql).await,
            None => crate::common::duckdb_strings(&ws.warehouse(), sql),
        };
        let before = mart(whole).await;
        assert_eq!(before.len(), 50);

        db.exec(
            "ALTER TABLE uni_tracking_info ADD COLUMN risk_score INT NULL;
             UPDATE uni_tracking_info SET risk_score = order_id * 10, update_time = update_time + 1000 \
             WHERE order_id <= 5",
        )
        .await;
        let out = run(config(false));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{stderr}");
        assert!(
            stderr.contains("new column(s) `risk_score` (int(11))")
                || stderr.contains("new column(s) `risk_score` (int)"),
            "{stderr}"
        );
        assert!(stderr.contains("allow_new_columns = true"), "{stderr}");
        // Refused before anything was read: the mart is as it was, rows 1-5 not updated.
        assert_eq!(
            mart(whole).await,
            before,
            "the refused cycle changed the mart"
        );

        let out = run(config(true));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sql = "SELECT CAST(order_id AS VARCHAR) || ':' || coalesce(CAST(risk_score AS VARCHAR), 'NULL') \
                   FROM mart_uni_tracking_info WHERE order_id IN (1, 5, 6)";
        let rows = match &pg {
            Some(schema) => schema.rows(sql).await,
            None => crate::common::duckdb_strings(&ws.warehouse(), sql),
        };
        assert_eq!(rows, ["1:10", "5:50", "6:NULL"], "{warehouse}");
        // Later cycles keep extracting it.
        db.exec("UPDATE uni_tracking_info SET risk_score = 7, update_time = update_time + 5000 WHERE order_id = 6")
            .await;
        assert!(run(config(true)).status.success());
        let rows = match &pg {
            Some(schema) => schema.rows(sql).await,
            None => crate::common::duckdb_strings(&ws.warehouse(), sql),
        };
        assert_eq!(rows, ["1:10", "5:50", "6:7"], "{warehouse}");
    }
}

/// A source column whose type changed (here `status` TINYINT → VARCHAR) fails the cycle
/// with code 4 naming the table, the column and both types, before anything is read; the
/// mart is as it was, although the retyped rows also moved their watermark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retyped_source_column_fails_the_cycle_naming_it_and_changes_nothing() {
    let Some(url) = service_url("MARTSYNC_TEST_MYSQL_URL") else {
        return;
    };
    let db = sources_with_orders(&url, 20).await;
    let ws = crate::common::Workspace::new();
    let config = ws.path("retype.toml");
    std::fs::write(
        &config,
        crate::common::service_config(
            &db.url,
            &format!("file://{}", ws.path("stage").display()),
            &format!("duckdb://{}", ws.warehouse().display()),
            "[[tables]]\nname = \"mart_uni_tracking_info\"\n",
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let out = crate::common::martsync(ws.dir.path(), &["run", "-c", config]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sql = "SELECT CAST(order_id AS VARCHAR) || ':' || CAST(status AS VARCHAR) || ':' || \
               CAST(update_time AS VARCHAR) FROM mart_uni_tracking_info";
    let before = crate::common::duckdb_strings(&ws.warehouse(), sql);
    assert_eq!(before.len(), 20);

    db.exec(
        "ALTER TABLE uni_tracking_info MODIFY status VARCHAR(10) NOT NULL;
         UPDATE uni_tracking_info SET status = 'shipped', update_time = update_time + 5000 \
         WHERE order_id <= 5",
    )
    .await;
    let out = crate::common::martsync(ws.dir.path(), &["run", "-c", config]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    for word in ["uni_tracking_info", "`status`", "varchar"] {
        assert!(
            stderr.to_lowercase().contains(&word.to_lowercase()),
            "no {word} in {stderr}"
        );
    }
    assert_eq!(
        crate::common::duckdb_strings(&ws.warehouse(), sql),
        before,
        "the refused cycle changed the mart"
    );
}

/// A database of its own with the source tables and orders 1..=n in `uni_tracking_info`
/// (order n at update_time 2026-01-01 + n seconds).
async fn sources_with_orders(url: &str, n: usize) -> MyDb {
    let db = MyDb::new(url).await;
    db.create_sources().await;
    db.exec(&format!(
        "INSERT INTO uni_tracking_info (order_id, tracking_no, partner_id, status, add_time, \
         update_time) SELECT seq, CONCAT('TN', seq), 1, 1, 1767225600, 1767225600 + seq \
         FROM seq_1_to_{n}"
    ))
    .await;
    db
}

/// MariaDB scans the whole table once it estimates a range at about a fifth of it, although
/// with the table in its buffer pool the watermark's index reads a range of 10 % faster
/// (`FORCE_INDEX_BELOW_PERCENT`). An incremental extraction of such a range goes through the
/// index; a larger range and a range the server reads by index anyway keep its plan; the rows
/// are the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_watermark_range_is_read_through_the_index_the_server_would_not_use() {
    let Some(base) = service_url("MARTSYNC_TEST_MYSQL_URL") else {
        return;
    };
    let db = sources_with_orders(&base, 200_000).await;
    // Two busy windows: 20k orders updated at +300,000 s, 20k more at +300,900 s.
    let at = 1_767_225_600i64 + 300_000;
    db.exec(&format!(
        "UPDATE uni_tracking_info SET status = 4, update_time = {at} WHERE order_id <= 20000"
    ))
    .await;
    db.exec(&format!(
        "UPDATE uni_tracking_info SET status = 4, update_time = {} \
         WHERE order_id > 20000 AND order_id <= 40000",
        at + 900
    ))
    .await;
    // The statistics the plans below are made from, as of now: InnoDB recalculates them in
    // the background once a tenth of a table has changed. The test failed twice in a dozen
    // runs (once right after the server restarted), most likely on statistics not yet
    // recalculated; none failed in 20 runs with this.
    db.exec("ANALYZE TABLE uni_tracking_info").await;
    let config = crate::common::parse_config(&crate::common::service_config(
        &db.url,
        "file:///nonexistent",
        "duckdb:///nonexistent",
        "",
    ));
    let table = config.tables[0].clone();
    assert_eq!(table.watermark, "update_time");
    let source = MySqlSource::new(&db.url, 4096, UnsignedBigint::Int64).unwrap();
    let server_plan = |above: i64| {
        let db = &db;
        async move {
            db.rows(&format!(
                "EXPLAIN FORMAT=JSON SELECT * FROM uni_tracking_info WHERE update_time > {above}"
            ))
            .await
        }
    };
    for (above, rows, forced) in [
        // 20k rows (10 %): estimated about 20 %, scanned by the server: forced.
        (at, 20_000, true),
        // 40k rows (20 %): estimated above 40 %: the server's scan stays.
        (at - 1, 40_000, false),
        // Nothing: the server reads the index itself.
        (at + 900, 0, false),
    ] {
        let index = source
            .forced_index(&table, Some(above), None)
            .await
            .unwrap();
        assert_eq!(
            index.as_deref(),
            forced.then_some("idx_update_time"),
            "update_time > {above} ({rows} rows); the server's plan: {:?}",
            server_plan(above).await
        );
        let extract = Extract {
            above: Some(above),
            below: None,
            keys: None,
            counters: Arc::new(ExtractCounters::default()),
            for_dedup: false,
        };
        let batches: Vec<RecordBatch> = source
            .extract(&table, extract)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let got: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(got, rows, "update_time > {above}");
    }
    // A full extraction never forces an index.
    assert_eq!(source.forced_index(&table, None, None).await.unwrap(), None);
}
