// The protocol's JSON types live in UNetJSON (which UNetCore and UNetData use for their files too); every file of
// this module and every host of it sees them as before.
@_exported import UNetJSON
