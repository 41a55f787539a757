package sigv4

import (
	"fmt"
	"net/http"
)

// AWS error codes returned by this package. The S3 server renders them in
// its XML error body; the HTTP status travels in Error.Status.
const (
	ErrCodeAccessDenied                      = "AccessDenied"
	ErrCodeAuthorizationHeaderMalformed      = "AuthorizationHeaderMalformed"
	ErrCodeAuthorizationQueryParametersError = "AuthorizationQueryParametersError"
	ErrCodeBadDigest                         = "BadDigest"
	ErrCodeIncompleteBody                    = "IncompleteBody"
	ErrCodeInvalidAccessKeyID                = "InvalidAccessKeyId"
	ErrCodeInvalidArgument                   = "InvalidArgument"
	ErrCodeInvalidDigest                     = "InvalidDigest"
	ErrCodeInvalidRequest                    = "InvalidRequest"
	ErrCodeMissingContentLength              = "MissingContentLength"
	ErrCodeMissingSecurityHeader             = "MissingSecurityHeader"
	ErrCodeNotImplemented                    = "NotImplemented"
	ErrCodeRequestTimeTooSkewed              = "RequestTimeTooSkewed"
	ErrCodeSignatureDoesNotMatch             = "SignatureDoesNotMatch"
	ErrCodeXAmzContentSHA256Mismatch         = "XAmzContentSHA256Mismatch"
	ErrCodeInternalError                     = "InternalError"
)

// Field is an extra element AWS puts in some error bodies (for example
// StringToSign and CanonicalRequest in SignatureDoesNotMatch, or
// HeadersNotSigned). The S3 server may render them after Message.
type Field struct {
	Name  string
	Value string
}

// Error is the error type of every failure in this package. Code is AWS's
// error code (one of the ErrCode constants), Status the HTTP status AWS
// answers with.
type Error struct {
	Code    string
	Message string
	Status  int
	Extra   []Field
	// Err is an underlying cause (for example an I/O error of the request
	// body), if any. It is not shown to clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// S3Code returns the AWS error code.
func (e *Error) S3Code() string { return e.Code }

// HTTPStatus returns the HTTP status code to answer with.
func (e *Error) HTTPStatus() int { return e.Status }

func newErr(code string, status int, msg string) *Error {
	return &Error{Code: code, Message: msg, Status: status}
}

func errf(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

func errAccessDenied(msg string) *Error {
	return newErr(ErrCodeAccessDenied, http.StatusForbidden, msg)
}

func errHeaderMalformed(msg string) *Error {
	return newErr(ErrCodeAuthorizationHeaderMalformed, http.StatusBadRequest, msg)
}

// errQueryParams is AWS's answer to an X-Amz-Expires out of range: 403
// Forbidden (the ceph s3-tests, which run against AWS, expect 403 for an
// X-Amz-Expires beyond a week or below zero).
func errQueryParams(msg string) *Error {
	return newErr(ErrCodeAuthorizationQueryParametersError, http.StatusForbidden, msg)
}

// errQueryMalformed is AWS's answer to presigned-URL parameters that are
// missing or cannot be parsed: AuthorizationQueryParametersError with 400
// Bad Request (only an X-Amz-Expires out of range is 403, errQueryParams).
func errQueryMalformed(msg string) *Error {
	return newErr(ErrCodeAuthorizationQueryParametersError, http.StatusBadRequest, msg)
}

func errInvalidArgument(msg string) *Error {
	return newErr(ErrCodeInvalidArgument, http.StatusBadRequest, msg)
}

func errInvalidRequest(msg string) *Error {
	return newErr(ErrCodeInvalidRequest, http.StatusBadRequest, msg)
}

func errIncompleteBody(cause error) *Error {
	e := newErr(ErrCodeIncompleteBody, http.StatusBadRequest,
		"You did not provide the number of bytes specified by the Content-Length HTTP header.")
	e.Err = cause
	return e
}

func errSignature() *Error {
	return newErr(ErrCodeSignatureDoesNotMatch, http.StatusForbidden,
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.")
}

func errChunkSignature() *Error {
	return newErr(ErrCodeSignatureDoesNotMatch, http.StatusForbidden,
		"The chunk signature we calculated does not match the signature you provided.")
}

func errMalformedChunk(msg string) *Error {
	// AWS answers a malformed aws-chunked body with IncompleteBody or
	// InvalidRequest depending on where it breaks; a framing error that is
	// not a truncation is an InvalidRequest.
	return newErr(ErrCodeInvalidRequest, http.StatusBadRequest, "Malformed aws-chunked body: "+msg)
}
