// Package s3err holds the S3 error codes the gateway returns and writes
// AWS's XML error body.
package s3err

import (
	"encoding/xml"
	"net/http"
)

// Error is an S3 error: its code, message and HTTP status.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// S3Code returns the AWS error code.
func (e *Error) S3Code() string { return e.Code }

// HTTPStatus returns the HTTP status code.
func (e *Error) HTTPStatus() int { return e.Status }

// With returns a copy of e with another message.
func (e *Error) With(msg string) *Error {
	c := *e
	c.Message = msg
	return &c
}

func def(code string, status int, msg string) *Error {
	return &Error{Code: code, Message: msg, Status: status}
}

// The errors the gateway returns, with AWS's codes, statuses and messages.
var (
	AccessDenied                 = def("AccessDenied", 403, "Access Denied")
	BadDigest                    = def("BadDigest", 400, "The Content-MD5 or checksum value that you specified did not match what the server received.")
	BucketAlreadyExists          = def("BucketAlreadyExists", 409, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.")
	BucketAlreadyOwnedByYou      = def("BucketAlreadyOwnedByYou", 409, "Your previous request to create the named bucket succeeded and you already own it.")
	BucketNotEmpty               = def("BucketNotEmpty", 409, "The bucket you tried to delete is not empty")
	EntityTooLarge               = def("EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed object size.")
	EntityTooSmall               = def("EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed object size.")
	IllegalVersioningConfig      = def("IllegalVersioningConfigurationException", 400, "The versioning configuration specified in the request is invalid.")
	IncompleteBody               = def("IncompleteBody", 400, "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	InternalError                = def("InternalError", 500, "We encountered an internal error. Please try again.")
	InsufficientStorage          = def("InsufficientStorage", 507, "The gateway has no storage space left; nothing was stored.")
	InvalidAccessKeyID           = def("InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records.")
	InvalidArgument              = def("InvalidArgument", 400, "Invalid Argument")
	InvalidBucketName            = def("InvalidBucketName", 400, "The specified bucket is not valid.")
	InvalidDigest                = def("InvalidDigest", 400, "The Content-MD5 you specified is not valid.")
	InvalidLocationConstraint    = def("InvalidLocationConstraint", 400, "The specified location constraint is not valid.")
	IllegalLocationConstraint    = def("IllegalLocationConstraintException", 400, "The location constraint you specified does not match this endpoint's region.")
	InvalidPart                  = def("InvalidPart", 400, "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.")
	InvalidPartOrder             = def("InvalidPartOrder", 400, "The list of parts was not in ascending order. The parts list must be specified in order by part number.")
	InvalidRange                 = def("InvalidRange", 416, "The requested range is not satisfiable")
	InvalidRequest               = def("InvalidRequest", 400, "Invalid Request")
	InvalidStorageClass          = def("InvalidStorageClass", 400, "The storage class you specified is not valid.")
	InvalidURI                   = def("InvalidURI", 400, "Couldn't parse the specified URI.")
	KeyTooLong                   = def("KeyTooLongError", 400, "Your key is too long")
	MalformedACL                 = def("MalformedACLError", 400, "The XML you provided was not well-formed or did not validate against our published schema.")
	MalformedXML                 = def("MalformedXML", 400, "The XML you provided was not well-formed or did not validate against our published schema.")
	MaxMessageLengthExceeded     = def("MaxMessageLengthExceeded", 400, "Your request was too big.")
	MetadataTooLarge             = def("MetadataTooLarge", 400, "Your metadata headers exceed the maximum allowed metadata size.")
	MethodNotAllowed             = def("MethodNotAllowed", 405, "The specified method is not allowed against this resource.")
	MissingContentLength         = def("MissingContentLength", 411, "You must provide the Content-Length HTTP header.")
	NoSuchBucket                 = def("NoSuchBucket", 404, "The specified bucket does not exist")
	NoSuchCORSConfiguration      = def("NoSuchCORSConfiguration", 404, "The CORS configuration does not exist")
	NoSuchKey                    = def("NoSuchKey", 404, "The specified key does not exist.")
	NoSuchUpload                 = def("NoSuchUpload", 404, "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.")
	NoSuchVersion                = def("NoSuchVersion", 404, "The specified version does not exist.")
	NotImplemented               = def("NotImplemented", 501, "A header you provided implies functionality that is not implemented.")
	NotModified                  = def("NotModified", 304, "Not Modified")
	PreconditionFailed           = def("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold")
	ConditionalRequestConflict   = def("ConditionalRequestConflict", 409, "A conflicting operation occurred.")
	RequestTimeout               = def("RequestTimeout", 400, "Your socket connection to the server was not read from or written to within the timeout period.")
	RequestHeaderSectionTooLarge = def("RequestHeaderSectionTooLarge", 400, "Your request header section exceeds the maximum allowed size.")
	SignatureDoesNotMatch        = def("SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	TooManyBuckets               = def("TooManyBuckets", 400, "You have attempted to create more buckets than allowed")
	CORSForbidden                = def("AccessForbidden", 403, "CORSResponse: This CORS request is not allowed.")
	InvalidTag                   = def("InvalidTag", 400, "The tag provided was not a valid tag.")
	QuotaExceeded                = def("QuotaExceeded", 403, "The account's storage quota would be exceeded.")
	TooManyUploads               = def("QuotaExceeded", 403, "The account has too many multipart uploads in progress.")
	InvalidEncodingType          = def("InvalidArgument", 400, "Invalid Encoding Method specified in Request")
)

// Body is AWS's XML error document.
type Body struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string   `xml:"Code"`
	Message    string   `xml:"Message"`
	Key        string   `xml:"Key,omitempty"`
	BucketName string   `xml:"BucketName,omitempty"`
	Resource   string   `xml:"Resource,omitempty"`
	RequestID  string   `xml:"RequestId"`
	HostID     string   `xml:"HostId"`
}

// Write sends e as an XML error response (no body for HEAD requests and
// 304 responses).
func Write(w http.ResponseWriter, r *http.Request, e *Error, body Body) {
	body.Code, body.Message = e.Code, e.Message
	h := w.Header()
	if e.Status == http.StatusNotModified {
		w.WriteHeader(e.Status)
		return
	}
	h.Set("Content-Type", "application/xml")
	if r.Method == http.MethodHead {
		w.WriteHeader(e.Status)
		return
	}
	out, _ := xml.Marshal(body)
	w.WriteHeader(e.Status)
	w.Write([]byte(xml.Header))
	w.Write(out)
}
