package profiles

// Compile and SchemaJSON let the black-box tests build the validator both
// ways (with and without discriminator dispatch) and compare them.
var (
	Compile    = compile
	SchemaJSON = schemaJSON
)
