// S3 round trips with the AWS SDK for JavaScript v3 at its defaults (request
// checksums "when supported": CRC32 in headers, and for stream bodies
// aws-chunked STREAMING-UNSIGNED-PAYLOAD-TRAILER with Transfer-Encoding:
// chunked and a CRC32 trailer), the way PeerTube- and Misskey-style apps
// store media. Run by scripts/e2e/s3-clients.sh:
//
//   node probe.mjs ENDPOINT ACCESS_KEY SECRET_KEY BUCKET [VHOST_DOMAIN]
//
// With VHOST_DOMAIN (the gateway's --domain) a second client also addresses
// the bucket virtual-host style (BUCKET.VHOST_DOMAIN:PORT), its names resolved
// to the endpoint's loopback address by the HTTP agent.
//
// Prints one line per step and exits non-zero if any step failed.
import {
  S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand, HeadObjectCommand,
  ListObjectsV2Command, DeleteObjectsCommand, CopyObjectCommand, DeleteBucketCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { Readable } from "node:stream";
import http from "node:http";
import crypto from "node:crypto";

const [endpoint, accessKeyId, secretAccessKey, bucket, vhostDomain] = process.argv.slice(2);
if (!bucket) {
  console.error("usage: node probe.mjs ENDPOINT ACCESS_KEY SECRET_KEY BUCKET");
  process.exit(2);
}
const s3 = new S3Client({
  endpoint, region: "us-east-1", forcePathStyle: true, maxAttempts: 1,
  credentials: { accessKeyId, secretAccessKey },
});

// Record the payload mode of every request, to assert which paths ran.
const modes = new Set();
s3.middlewareStack.add((next) => async (args) => {
  const h = args.request.headers;
  const sha = h["x-amz-content-sha256"] || "";
  modes.add(/^[0-9a-f]{64}$/.test(sha) ? "hex-sha256" : sha);
  if (h["x-amz-trailer"]) modes.add("trailer:" + h["x-amz-trailer"]);
  return next(args);
}, { step: "finalizeRequest", name: "recordPayloadMode", priority: "low" });

const sha256 = (b) => crypto.createHash("sha256").update(b).digest("hex");
const readAll = async (r) => Buffer.concat(await r.Body.toArray());
let failures = 0;
async function step(name, fn) {
  try {
    await fn();
    console.log("s3-e2e-js: ok   " + name);
  } catch (e) {
    failures++;
    console.log(`s3-e2e-js: FAIL ${name}: ${e.name}: ${e.message} ${e.$metadata?.httpStatusCode ?? ""}`);
  }
}
function check(cond, msg) { if (!cond) throw new Error(msg); }

const small = crypto.randomBytes(3 * 1024 * 1024 + 7);
const large = crypto.randomBytes(20 * 1024 * 1024 + 3);
const disposition = 'attachment; filename="clip.mp4"';

await step("create bucket", () => s3.send(new CreateBucketCommand({ Bucket: bucket })));
await step("PutObject string body", () => s3.send(new PutObjectCommand({ Bucket: bucket, Key: "a.txt", Body: "hello", ContentType: "text/plain" })));
await step("PutObject Buffer 3 MiB", () => s3.send(new PutObjectCommand({ Bucket: bucket, Key: "buf.bin", Body: small })));
await step("PutObject stream (aws-chunked, CRC32 trailer)", () => s3.send(new PutObjectCommand({
  Bucket: bucket, Key: "stream.bin", ContentLength: small.length,
  Body: Readable.from([small.subarray(0, 1000000), small.subarray(1000000)]),
})));
await step("GetObject of the streamed object matches", async () => {
  const got = await readAll(await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "stream.bin" })));
  check(sha256(got) === sha256(small), "content differs");
});
await step("GetObject with ChecksumMode ENABLED", async () => {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "a.txt", ChecksumMode: "ENABLED" }));
  const got = (await readAll(r)).toString();
  check(got === "hello", "got " + got);
});
await step("lib-storage Upload of a 20 MiB stream (multipart, public-read)", async () => {
  const up = new Upload({
    client: s3, partSize: 5 * 1024 * 1024, queueSize: 4,
    params: { Bucket: bucket, Key: "clip.mp4", Body: Readable.from([large]), ContentType: "video/mp4", ACL: "public-read" },
  });
  await up.done();
});
await step("GetObject of the multipart object matches; HeadObject size", async () => {
  const got = await readAll(await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "clip.mp4" })));
  check(sha256(got) === sha256(large), "content differs");
  const h = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "clip.mp4" }));
  check(h.ContentLength === large.length && h.ContentType === "video/mp4", `HEAD ${h.ContentLength} ${h.ContentType}`);
});
await step("anonymous ranged fetch of the public-read object", async () => {
  const r = await fetch(`${endpoint}/${bucket}/clip.mp4`, { headers: { Range: "bytes=5242870-5242889" } });
  const got = Buffer.from(await r.arrayBuffer());
  check(r.status === 206 && got.equals(large.subarray(5242870, 5242890)), `status ${r.status}, ${got.length} bytes`);
});
await step("CopyObject", () => s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "copy.mp4", CopySource: `${bucket}/clip.mp4` })));
await step("ListObjectsV2", async () => {
  const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  check(r.KeyCount === 5, "KeyCount " + r.KeyCount);
});
await step("presigned GET with ResponseContentDisposition", async () => {
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: "copy.mp4", ResponseContentDisposition: disposition }), { expiresIn: 60 });
  const r = await fetch(url);
  const got = Buffer.from(await r.arrayBuffer());
  check(r.status === 200 && got.equals(large), `status ${r.status}`);
  check(r.headers.get("content-disposition") === disposition, "Content-Disposition " + r.headers.get("content-disposition"));
});
await step("presigned PUT", async () => {
  const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: "pp.txt" }), { expiresIn: 60 });
  const r = await fetch(url, { method: "PUT", body: "xyz" });
  check(r.status === 200, `status ${r.status}: ${(await r.text()).slice(0, 300)}`);
});
await step("DeleteObjects, DeleteBucket", async () => {
  const keys = ["a.txt", "buf.bin", "stream.bin", "clip.mp4", "copy.mp4", "pp.txt"];
  const r = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }));
  check((r.Deleted || []).length === keys.length, "errors: " + JSON.stringify(r.Errors));
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
});
if (vhostDomain) {
  const u = new URL(endpoint);
  const agent = new http.Agent({
    lookup: (host, opts, cb) => (opts && opts.all ? cb(null, [{ address: u.hostname, family: 4 }]) : cb(null, u.hostname, 4)),
  });
  const vh = new S3Client({
    endpoint: `${u.protocol}//${vhostDomain}:${u.port}`, region: "us-east-1", forcePathStyle: false, maxAttempts: 1,
    credentials: { accessKeyId, secretAccessKey }, requestHandler: { httpAgent: agent },
  });
  const vb = bucket + "-vhost";
  await step("virtual-host style: create bucket, stream PUT, GET, list, delete", async () => {
    await vh.send(new CreateBucketCommand({ Bucket: vb }));
    await vh.send(new PutObjectCommand({ Bucket: vb, Key: "dir/v.bin", ContentLength: small.length, Body: Readable.from([small]) }));
    const got = await readAll(await vh.send(new GetObjectCommand({ Bucket: vb, Key: "dir/v.bin" })));
    check(got.equals(small), "content differs");
    const l = await vh.send(new ListObjectsV2Command({ Bucket: vb, Prefix: "dir/" }));
    check(l.KeyCount === 1 && l.Contents[0].Key === "dir/v.bin", "list " + JSON.stringify(l.Contents));
    // the same object is visible path-style
    const p = await s3.send(new HeadObjectCommand({ Bucket: vb, Key: "dir/v.bin" }));
    check(p.ContentLength === small.length, "path-style HEAD " + p.ContentLength);
    await vh.send(new DeleteObjectsCommand({ Bucket: vb, Delete: { Objects: [{ Key: "dir/v.bin" }] } }));
    await vh.send(new DeleteBucketCommand({ Bucket: vb }));
  });
}
await step("the SDK used the trailer mode and CRC32 trailers", () => {
  check(modes.has("STREAMING-UNSIGNED-PAYLOAD-TRAILER"), "modes seen: " + [...modes].join(", "));
  check(modes.has("trailer:x-amz-checksum-crc32"), "modes seen: " + [...modes].join(", "));
});
console.log("s3-e2e-js: payload modes seen: " + [...modes].join(", "));
process.exit(failures ? 1 : 0);
