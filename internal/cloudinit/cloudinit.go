package cloudinit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Names of the seed files, as the NoCloud datasource reads them.
const (
	UserDataName      = "user-data"
	MetaDataName      = "meta-data"
	NetworkConfigName = "network-config"
	VendorDataName    = "vendor-data"
)

// Size bounds. cloud-init has no limit of its own for NoCloud files, but
// the clouds it runs on do (EC2 16 KiB, OpenStack 64 KiB of user-data);
// these are generous above those and small enough to hold in memory.
const (
	// MaxUserData bounds user-data and vendor-data, and what a gzipped
	// one decompresses to.
	MaxUserData = 1 << 20
	// MaxMetaData bounds meta-data.
	MaxMetaData = 64 << 10
	// MaxNetworkConfig bounds network-config.
	MaxNetworkConfig = 256 << 10
	// MaxMIMEParts bounds the parts of a MIME multipart user-data.
	MaxMIMEParts = 256
)

// DefaultMetaData is the meta-data written when the caller gives none,
// the one cloud-localds writes: NoCloud needs a meta-data file, and a
// fixed instance-id makes cloud-init's per-instance modules run once.
const DefaultMetaData = "instance-id: iid-local01\n"

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid cloud-init seed")

// Kind is the kind of a user-data or vendor-data file, from its first
// bytes, as cloud-init tells them apart.
type Kind string

// Kinds of user-data cloud-init recognises.
const (
	KindEmpty           Kind = "empty"
	KindCloudConfig     Kind = "#cloud-config"
	KindScript          Kind = "#!"
	KindInclude         Kind = "#include"
	KindIncludeOnce     Kind = "#include-once"
	KindBoothook        Kind = "#cloud-boothook"
	KindPartHandler     Kind = "#part-handler"
	KindConfigArchive   Kind = "#cloud-config-archive"
	KindConfigJSONPatch Kind = "#cloud-config-jsonp"
	KindJinja           Kind = "## template: jinja"
	KindMIME            Kind = "multipart"
	KindGzip            Kind = "gzip"
)

// headers are the first lines that name a kind, matched whole.
var headers = []Kind{KindCloudConfig, KindInclude, KindIncludeOnce, KindBoothook, KindPartHandler,
	KindConfigArchive, KindConfigJSONPatch, KindJinja}

// mimeTypes maps the Content-Type of a MIME part to the kind it holds.
var mimeTypes = map[string]Kind{
	"text/cloud-config":               KindCloudConfig,
	"text/x-shellscript":              KindScript,
	"text/x-include-url":              KindInclude,
	"text/x-include-once-url":         KindIncludeOnce,
	"text/cloud-boothook":             KindBoothook,
	"text/part-handler":               KindPartHandler,
	"text/cloud-config-archive":       KindConfigArchive,
	"text/cloud-config-jsonp":         KindConfigJSONPatch,
	"text/jinja2":                     KindJinja,
	"text/x-shellscript-per-boot":     KindScript,
	"text/x-shellscript-per-instance": KindScript,
	"text/x-shellscript-per-once":     KindScript,
}

func invalidf(name, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, name, fmt.Sprintf(format, args...))
}

// UserData checks a user-data (or, with name "vendor-data", a
// vendor-data) file and returns its kind. Accepted: empty; #cloud-config
// (one YAML mapping, or empty); #cloud-config-archive (a YAML list);
// #cloud-config-jsonp (JSON); scripts (#!); #include and #include-once
// (URL lists); #cloud-boothook; #part-handler; "## template: jinja"
// followed by another header (the template itself is not rendered, so its
// YAML is not checked); MIME messages, told by a MIME-Version header in
// the first 4096 bytes as cloud-init tells them, multipart or not, each
// part checked by its Content-Type; and gzip holding any of these, bounded by MaxUserData once
// decompressed. Anything else cloud-init would ignore, so it is refused.
func UserData(name string, data []byte) (Kind, error) {
	if len(data) > MaxUserData {
		return "", invalidf(name, "%d bytes, more than the %d allowed", len(data), MaxUserData)
	}
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		inner, err := gunzip(name, data)
		if err != nil {
			return "", err
		}
		if bytes.HasPrefix(inner, []byte{0x1f, 0x8b}) {
			return "", invalidf(name, "gzip inside gzip")
		}
		if _, err := UserData(name, inner); err != nil {
			return "", err
		}
		return KindGzip, nil
	}
	return textUserData(name, data, 0)
}

func gunzip(name string, data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, invalidf(name, "gzip: %v", err)
	}
	zr.Multistream(false)
	inner, err := io.ReadAll(io.LimitReader(zr, MaxUserData+1))
	if err != nil {
		return nil, invalidf(name, "gzip: %v", err)
	}
	if len(inner) > MaxUserData {
		return nil, invalidf(name, "decompresses to more than %d bytes", MaxUserData)
	}
	return inner, nil
}

// textUserData checks uncompressed user-data; depth counts MIME nesting.
func textUserData(name string, data []byte, depth int) (Kind, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return KindEmpty, nil
	}
	first, rest, _ := bytes.Cut(data, []byte("\n"))
	line := strings.TrimRight(string(first), " \t\r")
	if strings.HasPrefix(line, "#!") {
		return KindScript, nil
	}
	for _, h := range headers {
		if line == string(h) {
			return h, checkKind(name, h, rest, depth)
		}
	}
	if isMIME(data) {
		return KindMIME, checkMIME(name, data, depth)
	}
	if len(line) > 40 {
		line = line[:40] + "..."
	}
	return "", invalidf(name, "first line %q is no user-data header cloud-init knows (#cloud-config, #!, #include, #include-once, #cloud-boothook, #part-handler, #cloud-config-archive, #cloud-config-jsonp, ## template: jinja, a MIME message with MIME-Version, gzip)", line)
}

// checkKind checks the body (what follows the header line) of a kind.
func checkKind(name string, k Kind, body []byte, depth int) error {
	switch k {
	case KindCloudConfig:
		return yamlMapping(name, body, "#cloud-config")
	case KindConfigArchive:
		n, err := yamlDocument(name, body)
		if err != nil {
			return err
		}
		if n != nil && n.Kind != yaml.SequenceNode {
			return invalidf(name, "#cloud-config-archive is a YAML %s, not a list", kindName(n))
		}
	case KindConfigJSONPatch:
		if _, err := yamlDocument(name, body); err != nil {
			return err
		}
	case KindJinja:
		// The template renders to another kind; only its header is known.
		first, _, _ := bytes.Cut(body, []byte("\n"))
		line := strings.TrimRight(string(first), " \t\r")
		if strings.HasPrefix(line, "#!") {
			return nil
		}
		for _, h := range headers {
			if line == string(h) && h != KindJinja {
				return nil
			}
		}
		return invalidf(name, "a jinja template must be followed by a user-data header, not %q", line)
	case KindInclude, KindIncludeOnce, KindBoothook, KindPartHandler:
		if !utf8.Valid(body) {
			return invalidf(name, "%s is not UTF-8 text", k)
		}
	}
	return nil
}

// isMIME tells a MIME message as cloud-init does: by a MIME-Version
// header in the first 4096 bytes.
func isMIME(data []byte) bool {
	return bytes.Contains(bytes.ToLower(data[:min(len(data), 4096)]), []byte("mime-version:"))
}

// checkMIME checks a MIME message, a multipart one part by part.
func checkMIME(name string, data []byte, depth int) error {
	if depth > 2 {
		return invalidf(name, "MIME multipart nested too deep")
	}
	msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return invalidf(name, "MIME: %v", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return invalidf(name, "MIME Content-Type: %v", err)
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		body, err := io.ReadAll(io.LimitReader(msg.Body, MaxUserData+1))
		if err != nil {
			return invalidf(name, "MIME: %v", err)
		}
		return checkPart(name, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), body, depth)
	}
	return checkParts(name, multipart.NewReader(msg.Body, params["boundary"]), depth)
}

func checkParts(name string, mr *multipart.Reader, depth int) error {
	for i := 0; ; i++ {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			if i == 0 {
				return invalidf(name, "MIME multipart without parts")
			}
			return nil
		}
		if err != nil {
			return invalidf(name, "MIME part %d: %v", i, err)
		}
		if i >= MaxMIMEParts {
			return invalidf(name, "more than %d MIME parts", MaxMIMEParts)
		}
		body, err := io.ReadAll(io.LimitReader(part, MaxUserData+1))
		if err != nil {
			return invalidf(name, "MIME part %d: %v", i, err)
		}
		if err := checkPart(fmt.Sprintf("%s part %d", name, i), part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), body, depth); err != nil {
			return err
		}
	}
}

func checkPart(name, contentType, encoding string, body []byte, depth int) error {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return invalidf(name, "Content-Type %q: %v", contentType, err)
	}
	switch strings.ToLower(encoding) {
	case "", "7bit", "8bit", "binary":
	default:
		// base64 and quoted-printable parts are decoded by cloud-init;
		// their content is not checked here.
		return nil
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		if depth >= 2 {
			return invalidf(name, "MIME multipart nested too deep")
		}
		return checkParts(name, multipart.NewReader(bytes.NewReader(body), params["boundary"]), depth+1)
	}
	k, ok := mimeTypes[mediaType]
	if !ok {
		return nil // cloud-init hands unknown types to part handlers
	}
	if k == KindCloudConfig {
		// A part's body needs no header line, but may carry one.
		first, rest, _ := bytes.Cut(body, []byte("\n"))
		if strings.TrimRight(string(first), " \t\r") == string(KindCloudConfig) {
			body = rest
		}
		return yamlMapping(name, body, "#cloud-config")
	}
	if k == KindConfigArchive {
		return checkKind(name, k, body, depth)
	}
	return nil
}

// yamlDocument parses one YAML document, refusing a second one as
// safe_load does; an empty input is nil, nil.
func yamlDocument(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, invalidf(name, "YAML: %v", err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, invalidf(name, "YAML: more than one document")
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	n := doc.Content[0]
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	// Decoding into a value catches duplicate keys and alias bombs.
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, invalidf(name, "YAML: %v", err)
	}
	return n, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar " + n.Tag
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

// yamlMapping parses data as one YAML mapping (or nothing) with string
// keys and returns it.
func yamlMapping(name string, data []byte, what string) error {
	_, err := mapping(name, data, what)
	return err
}

func mapping(name string, data []byte, what string) (map[string]any, error) {
	n, err := yamlDocument(name, data)
	if err != nil || n == nil {
		return nil, err
	}
	if n.Kind != yaml.MappingNode {
		return nil, invalidf(name, "%s is a YAML %s, not a mapping", what, kindName(n))
	}
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		return nil, invalidf(name, "%s: %v", what, err)
	}
	return m, nil
}

// MetaData checks a meta-data file: a YAML (or JSON) mapping of at most
// MaxMetaData bytes whose instance-id, local-hostname and hostname, when
// present, are non-empty scalars. A meta-data without instance-id is
// valid: cloud-init's NoCloud then uses "nocloud". One with instance_id
// or local_hostname instead is refused: cloud-init would ignore them.
func MetaData(data []byte) error {
	if len(data) > MaxMetaData {
		return invalidf(MetaDataName, "%d bytes, more than the %d allowed", len(data), MaxMetaData)
	}
	m, err := mapping(MetaDataName, data, "meta-data")
	if err != nil {
		return err
	}
	for _, key := range []string{"instance-id", "local-hostname"} {
		misspelt := strings.ReplaceAll(key, "-", "_")
		if _, ok := m[misspelt]; ok {
			if _, ok := m[key]; !ok {
				return invalidf(MetaDataName, "%s is not read by cloud-init, which reads %s", misspelt, key)
			}
		}
	}
	for _, key := range []string{"instance-id", "local-hostname", "hostname"} {
		v, ok := m[key]
		if !ok {
			continue
		}
		switch v := v.(type) {
		case string:
			if strings.TrimSpace(v) == "" {
				return invalidf(MetaDataName, "%s is empty", key)
			}
		case int, int64, uint64, float64, bool:
		default:
			return invalidf(MetaDataName, "%s is not a scalar", key)
		}
	}
	return nil
}

// NetworkConfig checks a network-config file: a YAML mapping of at most
// MaxNetworkConfig bytes with version 1 or 2, at the top or under a
// "network" key (cloud-init takes both).
func NetworkConfig(data []byte) error {
	if len(data) > MaxNetworkConfig {
		return invalidf(NetworkConfigName, "%d bytes, more than the %d allowed", len(data), MaxNetworkConfig)
	}
	m, err := mapping(NetworkConfigName, data, "network-config")
	if err != nil {
		return err
	}
	if m == nil {
		return invalidf(NetworkConfigName, "empty")
	}
	if inner, ok := m["network"].(map[string]any); ok && len(m) == 1 {
		m = inner
	}
	switch v := m["version"].(type) {
	case int:
		if v == 1 || v == 2 {
			return nil
		}
		return invalidf(NetworkConfigName, "version %d; cloud-init reads versions 1 and 2", v)
	case nil:
		return invalidf(NetworkConfigName, "no version (1 or 2)")
	default:
		return invalidf(NetworkConfigName, "version %v is not 1 or 2", v)
	}
}
