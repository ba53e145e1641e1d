//! `s3://bucket/prefix`: the production stage, through `aws-sdk-s3`.
//!
//! Credentials come from the standard AWS chain (environment, profile, SSO, instance or
//! task role). An `endpoint` (config) or `AWS_ENDPOINT_URL` (environment) points the client
//! at an S3-compatible server and switches it to path-style requests, which such servers
//! need. Objects larger than [`MULTIPART_THRESHOLD`] go up as multipart uploads, so a large
//! part never has to fit one request; S3 makes every completed PUT atomic.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, ServerSideEncryption,
};

use super::{Stage, StagedFile};
use crate::config::StageConfig;
use crate::error::{Error, Result};

/// Objects above this size are uploaded in parts.
pub const MULTIPART_THRESHOLD: usize = 16 * 1024 * 1024;
/// Size of each uploaded part (S3's minimum is 5 MiB, except the last).
pub const MULTIPART_PART_SIZE: usize = 8 * 1024 * 1024;
/// S3's limit of keys per DeleteObjects request.
const DELETE_BATCH: usize = 1000;

/// A bucket and key prefix.
pub struct S3Stage {
    client: Client,
    bucket: String,
    /// The root prefix, without leading or trailing slash; may be empty.
    root: String,
    sse: Option<ServerSideEncryption>,
    multipart_threshold: usize,
    part_size: usize,
}

impl S3Stage {
    /// Builds the client from the AWS credential chain and the stage's settings.
    pub async fn open(bucket: &str, root: &str, config: &StageConfig) -> Result<Self> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &config.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(endpoint) = &config.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        // A server that stops answering fails the request (and the SDK retries it) instead
        // of hanging the run.
        loader = loader.timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(30).min(config.timeout))
                .operation_attempt_timeout(config.timeout)
                .build(),
        );
        let shared = loader.load().await;
        let custom_endpoint = config.endpoint.is_some()
            || std::env::var_os("AWS_ENDPOINT_URL").is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let s3_config = aws_sdk_s3::config::Builder::from(&shared)
            // S3-compatible servers (Garage, MinIO, …) address buckets by path, not by host.
            .force_path_style(custom_endpoint)
            .build();
        Ok(S3Stage {
            client: Client::from_conf(s3_config),
            bucket: bucket.to_string(),
            root: root.to_string(),
            sse: config.sse.as_deref().map(ServerSideEncryption::from),
            multipart_threshold: MULTIPART_THRESHOLD,
            part_size: MULTIPART_PART_SIZE,
        })
    }

    /// Uploads objects above `threshold` bytes in parts of `part_size` (tests use small ones).
    pub fn with_multipart(mut self, threshold: usize, part_size: usize) -> Self {
        self.multipart_threshold = threshold;
        self.part_size = part_size;
        self
    }

    fn object_key(&self, key: &str) -> String {
        if self.root.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.root)
        }
    }

    fn file(&self, key: &str, content_length: u64) -> StagedFile {
        StagedFile {
            key: key.to_string(),
            url: format!("s3://{}/{}", self.bucket, self.object_key(key)),
            content_length,
        }
    }

    fn error(&self, action: String, e: impl std::error::Error) -> Error {
        Error::Stage {
            url: self.url(),
            action,
            message: DisplayErrorContext(e).to_string(),
        }
    }

    async fn put_multipart(&self, key: &str, object: &str, bytes: &[u8]) -> Result<()> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(object)
            .set_server_side_encryption(self.sse.clone())
            .send()
            .await
            .map_err(|e| self.error(format!("starting the multipart upload of {key}"), e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let uploaded = async {
            let mut parts = Vec::new();
            for (i, chunk) in bytes.chunks(self.part_size).enumerate() {
                let number = i as i32 + 1;
                let part = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(object)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(ByteStream::from(chunk.to_vec()))
                    .send()
                    .await
                    .map_err(|e| self.error(format!("uploading part {number} of {key}"), e))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(part.e_tag().map(str::to_string))
                        .build(),
                );
            }
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(object)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| self.error(format!("completing the multipart upload of {key}"), e))?;
            Ok(())
        }
        .await;
        if uploaded.is_err() {
            // Parts of an unfinished upload cost storage until aborted.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(object)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        uploaded
    }
}

#[async_trait::async_trait]
impl Stage for S3Stage {
    fn url(&self) -> String {
        if self.root.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.root)
        }
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<StagedFile> {
        let object = self.object_key(key);
        let len = bytes.len() as u64;
        if bytes.len() > self.multipart_threshold {
            self.put_multipart(key, &object, &bytes).await?;
        } else {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&object)
                .set_server_side_encryption(self.sse.clone())
                .body(ByteStream::from(bytes))
                .send()
                .await
                .map_err(|e| self.error(format!("uploading {key}"), e))?;
        }
        Ok(self.file(key, len))
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .send()
            .await
            .map_err(|e| self.error(format!("downloading {key}"), e))?;
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| self.error(format!("downloading {key}"), e))?;
        Ok(body.into_bytes().to_vec())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<StagedFile>> {
        let folder = format!("{}/", self.object_key(prefix).trim_end_matches('/'));
        let strip = if self.root.is_empty() {
            String::new()
        } else {
            format!("{}/", self.root)
        };
        let mut found = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&folder)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error(format!("listing {prefix}"), e))?;
            for object in page.contents() {
                let Some(key) = object.key().and_then(|k| k.strip_prefix(&strip)) else {
                    continue;
                };
                found.push(self.file(key, object.size().unwrap_or(0).max(0) as u64));
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let objects = self.list(prefix).await?;
        for batch in objects.chunks(DELETE_BATCH) {
            let identifiers = batch
                .iter()
                .map(|f| {
                    ObjectIdentifier::builder()
                        .key(self.object_key(&f.key))
                        .build()
                        .expect("a key is set")
                })
                .collect::<Vec<_>>();
            let deleted = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(
                    Delete::builder()
                        .set_objects(Some(identifiers))
                        .quiet(true)
                        .build()
                        .expect("objects are set"),
                )
                .send()
                .await
                .map_err(|e| self.error(format!("deleting {prefix}"), e))?;
            if let Some(failed) = deleted.errors().first() {
                return Err(Error::Stage {
                    url: self.url(),
                    action: format!("deleting {prefix}"),
                    message: format!(
                        "{} object(s) not deleted, first {}: {}",
                        deleted.errors().len(),
                        failed.key().unwrap_or("?"),
                        failed.message().unwrap_or("no message")
                    ),
                });
            }
        }
        Ok(())
    }

    fn local_path(&self, _key: &str) -> Option<std::path::PathBuf> {
        None
    }
}
