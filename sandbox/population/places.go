package population

// town is a post town with the outward codes used to build realistic
// postcodes, and the first letter of the ODS codes of its GP practices.
type town struct {
	name      string
	county    string
	area      string // postcode area, e.g. "LS"
	districts []int  // postcode districts within the area
	odsLetter byte
}

// Towns outside the postcode areas used by the sandbox fixtures (the DN
// area and LS1 6AE), so a synthetic person can never turn up in a canned
// postcode search.
var towns = []town{
	{"LEEDS", "WEST YORKSHIRE", "LS", []int{2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, 'B'},
	{"BRADFORD", "WEST YORKSHIRE", "BD", []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 'B'},
	{"WAKEFIELD", "WEST YORKSHIRE", "WF", []int{1, 2, 3, 4, 5}, 'B'},
	{"HALIFAX", "WEST YORKSHIRE", "HX", []int{1, 2, 3, 6}, 'B'},
	{"YORK", "NORTH YORKSHIRE", "YO", []int{10, 23, 24, 26, 30, 31, 32}, 'B'},
	{"SHEFFIELD", "SOUTH YORKSHIRE", "S", []int{2, 5, 6, 7, 8, 10, 11, 12, 13, 17, 20, 35}, 'C'},
	{"HULL", "EAST YORKSHIRE", "HU", []int{3, 4, 5, 6, 7, 8, 9}, 'B'},
	{"MANCHESTER", "GREATER MANCHESTER", "M", []int{8, 9, 11, 13, 14, 15, 16, 19, 20, 21, 22, 23, 40}, 'P'},
	{"SALFORD", "GREATER MANCHESTER", "M", []int{5, 6, 7, 27, 28, 30}, 'P'},
	{"BOLTON", "GREATER MANCHESTER", "BL", []int{1, 2, 3, 4, 5}, 'P'},
	{"LIVERPOOL", "MERSEYSIDE", "L", []int{4, 6, 7, 8, 9, 11, 12, 13, 15, 17, 18, 19, 25}, 'N'},
	{"PRESTON", "LANCASHIRE", "PR", []int{1, 2, 3, 4, 5}, 'P'},
	{"NEWCASTLE UPON TYNE", "TYNE AND WEAR", "NE", []int{2, 3, 4, 5, 6, 7, 15}, 'A'},
	{"SUNDERLAND", "TYNE AND WEAR", "SR", []int{2, 3, 4, 5, 6}, 'A'},
	{"MIDDLESBROUGH", "NORTH YORKSHIRE", "TS", []int{1, 3, 4, 5, 7}, 'A'},
	{"BIRMINGHAM", "WEST MIDLANDS", "B", []int{5, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 20, 23, 24, 27, 28, 29, 30, 31, 32, 33, 44}, 'M'},
	{"COVENTRY", "WEST MIDLANDS", "CV", []int{1, 2, 3, 4, 5, 6}, 'M'},
	{"WOLVERHAMPTON", "WEST MIDLANDS", "WV", []int{1, 2, 3, 4, 6, 10, 11}, 'M'},
	{"NOTTINGHAM", "NOTTINGHAMSHIRE", "NG", []int{2, 3, 5, 6, 7, 8, 9, 11}, 'C'},
	{"LEICESTER", "LEICESTERSHIRE", "LE", []int{2, 3, 4, 5, 18}, 'C'},
	{"DERBY", "DERBYSHIRE", "DE", []int{1, 3, 21, 22, 23, 24}, 'C'},
	{"STOKE-ON-TRENT", "STAFFORDSHIRE", "ST", []int{1, 2, 3, 4, 6}, 'M'},
	{"NORWICH", "NORFOLK", "NR", []int{1, 2, 3, 4, 5, 6, 7}, 'D'},
	{"CAMBRIDGE", "CAMBRIDGESHIRE", "CB", []int{1, 2, 3, 4, 5}, 'D'},
	{"IPSWICH", "SUFFOLK", "IP", []int{1, 2, 3, 4}, 'D'},
	{"LONDON", "", "E", []int{1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17}, 'F'},
	{"LONDON", "", "N", []int{1, 4, 5, 7, 8, 9, 15, 16, 17, 19, 22}, 'F'},
	{"LONDON", "", "SE", []int{1, 4, 5, 6, 8, 10, 13, 14, 15, 18, 22, 23, 25}, 'G'},
	{"LONDON", "", "SW", []int{2, 4, 6, 8, 9, 11, 12, 15, 16, 17, 18, 19}, 'H'},
	{"CROYDON", "SURREY", "CR", []int{0, 2, 4, 7}, 'H'},
	{"ROMFORD", "ESSEX", "RM", []int{1, 2, 3, 5, 7}, 'F'},
	{"BRIGHTON", "EAST SUSSEX", "BN", []int{1, 2, 3, 41}, 'H'},
	{"SOUTHAMPTON", "HAMPSHIRE", "SO", []int{14, 15, 16, 17, 18, 19}, 'J'},
	{"PORTSMOUTH", "HAMPSHIRE", "PO", []int{1, 2, 3, 4, 6}, 'J'},
	{"OXFORD", "OXFORDSHIRE", "OX", []int{1, 2, 3, 4}, 'K'},
	{"READING", "BERKSHIRE", "RG", []int{1, 2, 4, 5, 6, 30}, 'K'},
	{"BRISTOL", "", "BS", []int{2, 3, 4, 5, 6, 7, 8, 9, 13, 14, 15, 16}, 'L'},
	{"EXETER", "DEVON", "EX", []int{1, 2, 4}, 'L'},
	{"PLYMOUTH", "DEVON", "PL", []int{1, 2, 3, 4, 5, 6}, 'L'},
	{"GLOUCESTER", "GLOUCESTERSHIRE", "GL", []int{1, 2, 3, 4}, 'L'},
	{"CARLISLE", "CUMBRIA", "CA", []int{1, 2, 3}, 'A'},
	{"LINCOLN", "LINCOLNSHIRE", "LN", []int{1, 2, 5, 6}, 'C'},
}

var streetNames = []string{
	"Church", "Station", "Victoria", "Albert", "Park", "Queens", "Kings",
	"Mill", "High", "Manor", "Grange", "Windsor", "York", "Hill", "Green",
	"Chapel", "School", "North", "South", "West", "East", "New", "Springfield",
	"Highfield", "Stanley", "Cromwell", "Elm", "Oak", "Ash", "Beech", "Willow",
	"Cedar", "Birch", "Chestnut", "Meadow", "Orchard", "Brook", "River",
	"Bridge", "Market", "Castle", "Abbey", "Priory", "Hawthorn", "Holly",
	"Rose", "Lilac", "Heather", "Primrose", "Clarence", "Nelson", "Wellington",
	"Marlborough", "Cambridge", "Oxford", "Belmont", "Fairfield", "Moorland",
	"Woodland", "Riverside", "Lime", "Poplar", "Sycamore", "Laburnum",
}

var streetTypes = []string{
	"Road", "Street", "Lane", "Avenue", "Close", "Drive", "Grove", "Way",
	"Crescent", "Place", "Terrace", "Gardens", "Court", "Walk", "View",
}

var localities = []string{
	"Northside", "Southfield", "Westgate", "Eastbrook", "Hillcrest",
	"Moorside", "Woodhouse", "Brookfield", "Newtown", "Oldfield",
	"Parkside", "Highbury", "Lowfields", "Fairview", "Greenhill",
}

// inwardLetters are the letters allowed in the last two characters of a
// UK postcode (never C, I, K, M, O or V).
const inwardLetters = "ABDEFGHJLNPQRSTUWXYZ"
