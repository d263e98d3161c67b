package fakeprovider

import (
	"encoding/binary"
	"hash/crc32"
)

// The AWS event-stream encoding (application/vnd.amazon.eventstream) of
// Bedrock's streaming responses, written out because it is small and the
// fake must be able to produce exactly the bytes a test asks for; the tests
// decode it with the AWS SDK's own decoder. A message is:
//
//	total length (uint32) | headers length (uint32) | prelude CRC32 (uint32)
//	headers | payload | message CRC32 (uint32)
//
// with big-endian integers and IEEE CRC32s, the prelude CRC over the first
// 8 bytes and the message CRC over everything before it. Each header is a
// name length (byte), the name, a value type (7 = string), a value length
// (uint16) and the value, as github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream
// encodes and decodes them.

// esHeader is one event-stream header with a string value.
type esHeader struct{ name, value string }

// esStringType is the header value type of a string.
const esStringType = 7

// appendEventStream appends one event-stream message to dst.
func appendEventStream(dst []byte, headers []esHeader, payload []byte) []byte {
	hlen := 0
	for _, h := range headers {
		hlen += 1 + len(h.name) + 1 + 2 + len(h.value)
	}
	total := 12 + hlen + len(payload) + 4
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(total))
	dst = binary.BigEndian.AppendUint32(dst, uint32(hlen))
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:start+8]))
	for _, h := range headers {
		dst = append(dst, byte(len(h.name)))
		dst = append(dst, h.name...)
		dst = append(dst, esStringType)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(h.value)))
		dst = append(dst, h.value...)
	}
	dst = append(dst, payload...)
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
}

// esEvent is an event message's headers.
func esEvent(eventType string) []esHeader {
	return []esHeader{{":event-type", eventType}, {":content-type", "application/json"}, {":message-type", "event"}}
}

// esException is an exception message's headers.
func esException(exceptionType string) []esHeader {
	return []esHeader{{":exception-type", exceptionType}, {":content-type", "application/json"}, {":message-type", "exception"}}
}
