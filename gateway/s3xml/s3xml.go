// Package s3xml holds the XML documents of the S3 API, as AWS writes them,
// and the parsers of request bodies.
package s3xml

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"time"
)

// NS is the S3 XML namespace.
const NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// MaxBodySize caps XML request bodies; MaxCompleteSize caps the body of
// CompleteMultipartUpload, which lists up to 10,000 parts.
const (
	MaxBodySize     = 1 << 20
	MaxCompleteSize = 4 << 20
)

// ErrTooLarge is returned by Decode for a body over MaxBodySize.
var ErrTooLarge = errors.New("s3xml: request body too large")

// Decode reads at most MaxBodySize bytes of XML from r into v.
func Decode(r io.Reader, v any) error { return DecodeLimit(r, v, MaxBodySize) }

// DecodeLimit reads at most limit bytes of XML from r into v.
func DecodeLimit(r io.Reader, v any, limit int64) error {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return err
	}
	if int64(len(data)) > limit {
		return ErrTooLarge
	}
	if err := xml.Unmarshal(data, v); err != nil {
		return fmt.Errorf("s3xml: %w", err)
	}
	return nil
}

// Time formats t as S3 does in XML (ISO 8601 with milliseconds, UTC).
func Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// Owner is the Owner element.
type Owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName,omitempty"`
}

// Bucket is an entry of ListAllMyBucketsResult.
type Bucket struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
	BucketRegion string `xml:"BucketRegion,omitempty"`
}

// ListAllMyBucketsResult answers ListBuckets.
type ListAllMyBucketsResult struct {
	XMLName           xml.Name `xml:"ListAllMyBucketsResult"`
	Xmlns             string   `xml:"xmlns,attr"`
	Owner             Owner    `xml:"Owner"`
	Buckets           []Bucket `xml:"Buckets>Bucket"`
	ContinuationToken string   `xml:"ContinuationToken,omitempty"`
	Prefix            string   `xml:"Prefix,omitempty"`
}

// CreateBucketConfiguration is the body of CreateBucket.
type CreateBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
}

// LocationConstraint answers GetBucketLocation.
type LocationConstraint struct {
	XMLName xml.Name `xml:"LocationConstraint"`
	Xmlns   string   `xml:"xmlns,attr"`
	Value   string   `xml:",chardata"`
}

// VersioningConfiguration is the body of Get/PutBucketVersioning.
type VersioningConfiguration struct {
	XMLName   xml.Name `xml:"VersioningConfiguration"`
	Xmlns     string   `xml:"xmlns,attr,omitempty"`
	Status    string   `xml:"Status,omitempty"`
	MfaDelete string   `xml:"MfaDelete,omitempty"`
}

// Object is an entry of ListBucketResult.
type Object struct {
	Key               string   `xml:"Key"`
	LastModified      string   `xml:"LastModified"`
	ETag              string   `xml:"ETag"`
	ChecksumAlgorithm []string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string   `xml:"ChecksumType,omitempty"`
	Size              int64    `xml:"Size"`
	Owner             *Owner   `xml:"Owner,omitempty"`
	StorageClass      string   `xml:"StorageClass"`
}

// CommonPrefix is a CommonPrefixes entry.
type CommonPrefix struct {
	Prefix string `xml:"Prefix"`
}

// ListBucketResult answers ListObjects (v1 and v2).
type ListBucketResult struct {
	XMLName               xml.Name       `xml:"ListBucketResult"`
	Xmlns                 string         `xml:"xmlns,attr"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	Marker                *string        `xml:"Marker,omitempty"`
	NextMarker            string         `xml:"NextMarker,omitempty"`
	ContinuationToken     *string        `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	KeyCount              *int           `xml:"KeyCount,omitempty"`
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	Contents              []Object       `xml:"Contents"`
	CommonPrefixes        []CommonPrefix `xml:"CommonPrefixes"`
}

// Version is a Version or DeleteMarker entry of ListVersionsResult.
type Version struct {
	XMLName           xml.Name
	Key               string   `xml:"Key"`
	VersionID         string   `xml:"VersionId"`
	IsLatest          bool     `xml:"IsLatest"`
	LastModified      string   `xml:"LastModified"`
	ETag              string   `xml:"ETag,omitempty"`
	ChecksumAlgorithm []string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string   `xml:"ChecksumType,omitempty"`
	Size              *int64   `xml:"Size,omitempty"`
	StorageClass      string   `xml:"StorageClass,omitempty"`
	Owner             *Owner   `xml:"Owner,omitempty"`
}

// ListVersionsResult answers ListObjectVersions. Versions holds Version and
// DeleteMarker elements in listing order.
type ListVersionsResult struct {
	XMLName             xml.Name       `xml:"ListVersionsResult"`
	Xmlns               string         `xml:"xmlns,attr"`
	Name                string         `xml:"Name"`
	Prefix              string         `xml:"Prefix"`
	KeyMarker           string         `xml:"KeyMarker"`
	VersionIDMarker     string         `xml:"VersionIdMarker"`
	NextKeyMarker       string         `xml:"NextKeyMarker,omitempty"`
	NextVersionIDMarker string         `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int            `xml:"MaxKeys"`
	Delimiter           string         `xml:"Delimiter,omitempty"`
	EncodingType        string         `xml:"EncodingType,omitempty"`
	IsTruncated         bool           `xml:"IsTruncated"`
	Versions            []Version      `xml:",any"`
	CommonPrefixes      []CommonPrefix `xml:"CommonPrefixes"`
}

// Delete is the body of DeleteObjects.
type Delete struct {
	XMLName xml.Name           `xml:"Delete"`
	Quiet   bool               `xml:"Quiet"`
	Objects []ObjectIdentifier `xml:"Object"`
}

// ObjectIdentifier names one object of a DeleteObjects request.
type ObjectIdentifier struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId"`
	ETag      string `xml:"ETag"`
}

// Deleted is a success entry of DeleteResult.
type Deleted struct {
	Key                   string `xml:"Key"`
	VersionID             string `xml:"VersionId,omitempty"`
	DeleteMarker          bool   `xml:"DeleteMarker,omitempty"`
	DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId,omitempty"`
}

// DeleteError is a failure entry of DeleteResult.
type DeleteError struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
}

// DeleteResult answers DeleteObjects.
type DeleteResult struct {
	XMLName xml.Name      `xml:"DeleteResult"`
	Xmlns   string        `xml:"xmlns,attr"`
	Deleted []Deleted     `xml:"Deleted"`
	Errors  []DeleteError `xml:"Error"`
}

// CopyObjectResult answers CopyObject.
type CopyObjectResult struct {
	XMLName        xml.Name `xml:"CopyObjectResult"`
	Xmlns          string   `xml:"xmlns,attr"`
	LastModified   string   `xml:"LastModified"`
	ETag           string   `xml:"ETag"`
	ChecksumCRC32  string   `xml:"ChecksumCRC32,omitempty"`
	ChecksumCRC32C string   `xml:"ChecksumCRC32C,omitempty"`
	ChecksumSHA1   string   `xml:"ChecksumSHA1,omitempty"`
	ChecksumSHA256 string   `xml:"ChecksumSHA256,omitempty"`
}

// CopyPartResult answers UploadPartCopy.
type CopyPartResult struct {
	XMLName      xml.Name `xml:"CopyPartResult"`
	Xmlns        string   `xml:"xmlns,attr"`
	LastModified string   `xml:"LastModified"`
	ETag         string   `xml:"ETag"`
}

// InitiateMultipartUploadResult answers CreateMultipartUpload.
type InitiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

// Checksums are the checksum elements used in several documents.
type Checksums struct {
	ChecksumCRC32     string `xml:"ChecksumCRC32,omitempty"`
	ChecksumCRC32C    string `xml:"ChecksumCRC32C,omitempty"`
	ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME,omitempty"`
	ChecksumSHA1      string `xml:"ChecksumSHA1,omitempty"`
	ChecksumSHA256    string `xml:"ChecksumSHA256,omitempty"`
	ChecksumSHA512    string `xml:"ChecksumSHA512,omitempty"`
	ChecksumXXHASH64  string `xml:"ChecksumXXHASH64,omitempty"`
	ChecksumXXHASH3   string `xml:"ChecksumXXHASH3,omitempty"`
	ChecksumXXHASH128 string `xml:"ChecksumXXHASH128,omitempty"`
}

// Map returns the checksums by algorithm name.
func (c Checksums) Map() map[string]string {
	m := map[string]string{}
	for k, v := range map[string]string{"CRC32": c.ChecksumCRC32, "CRC32C": c.ChecksumCRC32C, "CRC64NVME": c.ChecksumCRC64NVME, "SHA1": c.ChecksumSHA1, "SHA256": c.ChecksumSHA256,
		"SHA512": c.ChecksumSHA512, "XXHASH64": c.ChecksumXXHASH64, "XXHASH3": c.ChecksumXXHASH3, "XXHASH128": c.ChecksumXXHASH128} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// ChecksumsFrom builds Checksums from a map by algorithm name.
func ChecksumsFrom(m map[string]string) Checksums {
	return Checksums{ChecksumCRC32: m["CRC32"], ChecksumCRC32C: m["CRC32C"], ChecksumCRC64NVME: m["CRC64NVME"], ChecksumSHA1: m["SHA1"], ChecksumSHA256: m["SHA256"],
		ChecksumSHA512: m["SHA512"], ChecksumXXHASH64: m["XXHASH64"], ChecksumXXHASH3: m["XXHASH3"], ChecksumXXHASH128: m["XXHASH128"]}
}

// CompletePart is a Part of CompleteMultipartUpload.
type CompletePart struct {
	PartNumber int    `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
	Checksums
}

// CompleteMultipartUpload is the body of CompleteMultipartUpload.
type CompleteMultipartUpload struct {
	XMLName xml.Name       `xml:"CompleteMultipartUpload"`
	Parts   []CompletePart `xml:"Part"`
}

// CompleteMultipartUploadResult answers CompleteMultipartUpload.
type CompleteMultipartUploadResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
	Checksums
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

// Part is an entry of ListPartsResult.
type Part struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	Checksums
}

// ListPartsResult answers ListParts.
type ListPartsResult struct {
	XMLName              xml.Name `xml:"ListPartsResult"`
	Xmlns                string   `xml:"xmlns,attr"`
	Bucket               string   `xml:"Bucket"`
	Key                  string   `xml:"Key"`
	UploadID             string   `xml:"UploadId"`
	Initiator            Owner    `xml:"Initiator"`
	Owner                Owner    `xml:"Owner"`
	StorageClass         string   `xml:"StorageClass"`
	PartNumberMarker     int      `xml:"PartNumberMarker"`
	NextPartNumberMarker int      `xml:"NextPartNumberMarker"`
	MaxParts             int      `xml:"MaxParts"`
	IsTruncated          bool     `xml:"IsTruncated"`
	ChecksumAlgorithm    string   `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType         string   `xml:"ChecksumType,omitempty"`
	Parts                []Part   `xml:"Part"`
}

// Upload is an entry of ListMultipartUploadsResult.
type Upload struct {
	Key               string `xml:"Key"`
	UploadID          string `xml:"UploadId"`
	Initiator         Owner  `xml:"Initiator"`
	Owner             Owner  `xml:"Owner"`
	StorageClass      string `xml:"StorageClass"`
	Initiated         string `xml:"Initiated"`
	ChecksumAlgorithm string `xml:"ChecksumAlgorithm,omitempty"`
}

// ListMultipartUploadsResult answers ListMultipartUploads.
type ListMultipartUploadsResult struct {
	XMLName            xml.Name       `xml:"ListMultipartUploadsResult"`
	Xmlns              string         `xml:"xmlns,attr"`
	Bucket             string         `xml:"Bucket"`
	KeyMarker          string         `xml:"KeyMarker"`
	UploadIDMarker     string         `xml:"UploadIdMarker"`
	NextKeyMarker      string         `xml:"NextKeyMarker"`
	NextUploadIDMarker string         `xml:"NextUploadIdMarker"`
	Prefix             string         `xml:"Prefix"`
	Delimiter          string         `xml:"Delimiter,omitempty"`
	MaxUploads         int            `xml:"MaxUploads"`
	EncodingType       string         `xml:"EncodingType,omitempty"`
	IsTruncated        bool           `xml:"IsTruncated"`
	Uploads            []Upload       `xml:"Upload"`
	CommonPrefixes     []CommonPrefix `xml:"CommonPrefixes"`
}

// Grantee is the grantee of a Grant; its xsi:type attribute says which kind.
// Type is written (as AWS does, with the xsi prefix); TypeIn is what a
// parsed request carried.
type Grantee struct {
	XMLNSXSI     string `xml:"xmlns:xsi,attr,omitempty"`
	Type         string `xml:"xsi:type,attr,omitempty"`
	TypeIn       string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr,omitempty"`
	ID           string `xml:"ID,omitempty"`
	DisplayName  string `xml:"DisplayName,omitempty"`
	URI          string `xml:"URI,omitempty"`
	EmailAddress string `xml:"EmailAddress,omitempty"`
}

// Grant is one entry of an AccessControlList.
type Grant struct {
	Grantee    Grantee `xml:"Grantee"`
	Permission string  `xml:"Permission"`
}

// AccessControlPolicy is the body of Get/Put{Bucket,Object}Acl.
type AccessControlPolicy struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Owner   Owner    `xml:"Owner"`
	Grants  []Grant  `xml:"AccessControlList>Grant"`
}

// CORSRule is one rule of a CORSConfiguration.
type CORSRule struct {
	ID             string   `xml:"ID,omitempty"`
	AllowedOrigins []string `xml:"AllowedOrigin"`
	AllowedMethods []string `xml:"AllowedMethod"`
	AllowedHeaders []string `xml:"AllowedHeader,omitempty"`
	ExposeHeaders  []string `xml:"ExposeHeader,omitempty"`
	MaxAgeSeconds  *int     `xml:"MaxAgeSeconds,omitempty"`
}

// CORSConfiguration is the body of Get/PutBucketCors.
type CORSConfiguration struct {
	XMLName xml.Name   `xml:"CORSConfiguration"`
	Xmlns   string     `xml:"xmlns,attr,omitempty"`
	Rules   []CORSRule `xml:"CORSRule"`
}

// GetObjectAttributesResponse answers GetObjectAttributes.
type GetObjectAttributesResponse struct {
	XMLName      xml.Name              `xml:"GetObjectAttributesResponse"`
	Xmlns        string                `xml:"xmlns,attr"`
	ETag         string                `xml:"ETag,omitempty"`
	Checksum     *Checksum             `xml:"Checksum,omitempty"`
	ObjectParts  *ObjectAttributeParts `xml:"ObjectParts,omitempty"`
	StorageClass string                `xml:"StorageClass,omitempty"`
	ObjectSize   *int64                `xml:"ObjectSize,omitempty"`
}

// Checksum is the Checksum element of GetObjectAttributes.
type Checksum struct {
	Checksums
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

// ObjectAttributeParts is the ObjectParts element of GetObjectAttributes.
type ObjectAttributeParts struct {
	TotalPartsCount      int              `xml:"TotalPartsCount"`
	PartsCount           int              `xml:"PartsCount"`
	PartNumberMarker     int              `xml:"PartNumberMarker"`
	NextPartNumberMarker int              `xml:"NextPartNumberMarker"`
	MaxParts             int              `xml:"MaxParts"`
	IsTruncated          bool             `xml:"IsTruncated"`
	Parts                []AttributesPart `xml:"Part"`
}

// AttributesPart is a Part of ObjectAttributeParts.
type AttributesPart struct {
	PartNumber int   `xml:"PartNumber"`
	Size       int64 `xml:"Size"`
	Checksums
}

// PublicAccessBlockConfiguration is the body of Get/PutPublicAccessBlock.
type PublicAccessBlockConfiguration struct {
	XMLName               xml.Name `xml:"PublicAccessBlockConfiguration"`
	Xmlns                 string   `xml:"xmlns,attr,omitempty"`
	BlockPublicAcls       bool     `xml:"BlockPublicAcls"`
	IgnorePublicAcls      bool     `xml:"IgnorePublicAcls"`
	BlockPublicPolicy     bool     `xml:"BlockPublicPolicy"`
	RestrictPublicBuckets bool     `xml:"RestrictPublicBuckets"`
}

// Tagging is the document of Put/GetObjectTagging and Put/GetBucketTagging.
type Tagging struct {
	XMLName xml.Name `xml:"Tagging"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	TagSet  struct {
		Tags []Tag `xml:"Tag"`
	} `xml:"TagSet"`
}

// Tag is one key and value.
type Tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// PolicyStatus is the answer of GetBucketPolicyStatus.
type PolicyStatus struct {
	XMLName  xml.Name `xml:"PolicyStatus"`
	Xmlns    string   `xml:"xmlns,attr,omitempty"`
	IsPublic bool     `xml:"IsPublic"`
}

// OwnershipControls is the document of Put/GetBucketOwnershipControls.
type OwnershipControls struct {
	XMLName xml.Name        `xml:"OwnershipControls"`
	Xmlns   string          `xml:"xmlns,attr,omitempty"`
	Rules   []OwnershipRule `xml:"Rule"`
}

// OwnershipRule is one rule of OwnershipControls.
type OwnershipRule struct {
	ObjectOwnership string `xml:"ObjectOwnership"`
}

// LifecycleConfiguration is the document of Put/GetBucketLifecycleConfiguration.
type LifecycleConfiguration struct {
	XMLName xml.Name        `xml:"LifecycleConfiguration"`
	Xmlns   string          `xml:"xmlns,attr,omitempty"`
	Rules   []LifecycleRule `xml:"Rule"`
}

// LifecycleRule is one rule of a lifecycle configuration.
type LifecycleRule struct {
	ID     string           `xml:"ID,omitempty"`
	Prefix *string          `xml:"Prefix"`
	Filter *LifecycleFilter `xml:"Filter"`
	Status string           `xml:"Status"`

	Expiration                     *LifecycleExpiration      `xml:"Expiration"`
	NoncurrentVersionExpiration    *NoncurrentExpiration     `xml:"NoncurrentVersionExpiration"`
	AbortIncompleteMultipartUpload *AbortIncompleteMultipart `xml:"AbortIncompleteMultipartUpload"`
	Transitions                    []struct {
		Days         int    `xml:"Days"`
		StorageClass string `xml:"StorageClass"`
	} `xml:"Transition"`
}

// LifecycleFilter selects the objects a rule applies to.
type LifecycleFilter struct {
	Prefix                *string       `xml:"Prefix"`
	Tag                   *Tag          `xml:"Tag"`
	ObjectSizeGreaterThan *int64        `xml:"ObjectSizeGreaterThan"`
	ObjectSizeLessThan    *int64        `xml:"ObjectSizeLessThan"`
	And                   *LifecycleAnd `xml:"And"`
}

// LifecycleAnd combines filter conditions.
type LifecycleAnd struct {
	Prefix                *string `xml:"Prefix"`
	Tags                  []Tag   `xml:"Tag"`
	ObjectSizeGreaterThan *int64  `xml:"ObjectSizeGreaterThan"`
	ObjectSizeLessThan    *int64  `xml:"ObjectSizeLessThan"`
}

// LifecycleExpiration expires current versions.
type LifecycleExpiration struct {
	Days                      *int    `xml:"Days"`
	Date                      *string `xml:"Date"`
	ExpiredObjectDeleteMarker *bool   `xml:"ExpiredObjectDeleteMarker"`
}

// NoncurrentExpiration expires noncurrent versions.
type NoncurrentExpiration struct {
	NoncurrentDays          *int `xml:"NoncurrentDays"`
	NewerNoncurrentVersions *int `xml:"NewerNoncurrentVersions"`
}

// AbortIncompleteMultipart aborts old incomplete uploads.
type AbortIncompleteMultipart struct {
	DaysAfterInitiation *int `xml:"DaysAfterInitiation"`
}
