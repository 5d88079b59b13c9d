package scr

// What generated summaries are made of: realistic GP entries, written the
// way GP systems write them into the SCR (descriptions as free text, dm+d
// descriptions for medicines, dosage in GP "sentence case").

type weighted struct {
	value  string
	weight int
}

var allergyVocabulary = []string{
	"Allergy to penicillin",
	"Allergy to amoxicillin",
	"Allergy to peanuts",
	"Allergy to tree nuts",
	"House dust mite allergy",
	"Allergy to latex",
	"Allergy to aspirin",
	"Adverse reaction to codeine",
	"Allergy to ibuprofen",
	"Toxic reaction to wasp sting",
	"Allergy to bee venom",
	"Allergy to sulfonamides",
	"Allergy to shellfish",
	"Allergy to egg protein",
	"Lactose intolerance",
	"Adverse reaction to trimethoprim",
	"Allergy to elastoplast",
	"Allergy to cat dander",
}

var certainties = []weighted{{"Confirmed", 5}, {"Suspected", 2}, {"", 3}}

var severities = []weighted{{"Mild", 3}, {"Moderate", 3}, {"Severe", 2}, {"", 4}}

var supportingInfo = []weighted{{"Problem; First", 3}, {"Problem; Review", 2}, {"Rash", 2}, {"Anaphylaxis", 1}, {"Urticaria", 1}, {"Angioedema", 1}, {"", 4}}

type medicine struct {
	item, dosage, quantity string
}

var adultMedicines = []medicine{
	{"Amoxicillin 500mg capsules", "One To Be Taken Three Times A Day", "21 capsule"},
	{"Omeprazole 20mg gastro-resistant capsules", "One To Be Taken Each Day", "28 capsule"},
	{"Ramipril 5mg capsules", "One To Be Taken Each Day", "28 capsule"},
	{"Atorvastatin 20mg tablets", "One To Be Taken At Night", "28 tablet"},
	{"Metformin 500mg tablets", "One To Be Taken Twice A Day With Food", "56 tablet"},
	{"Salbutamol 100micrograms/dose inhaler CFC free", "Two Puffs When Required", "200 dose"},
	{"Levothyroxine sodium 50microgram tablets", "One To Be Taken Each Morning", "28 tablet"},
	{"Amlodipine 5mg tablets", "One To Be Taken Each Day", "28 tablet"},
	{"Sertraline 50mg tablets", "One To Be Taken Each Day", "28 tablet"},
	{"Paracetamol 500mg tablets", "Two To Be Taken Up To Four Times A Day When Required", "100 tablet"},
	{"Ibuprofen 400mg tablets", "One To Be Taken Three Times A Day With Food", "24 tablet"},
	{"Trimethoprim 200mg tablets", "One To Be Taken Twice A Day For 3 Days", "6 tablet"},
	{"Clenil Modulite 100micrograms/dose inhaler", "Two Puffs Twice A Day", "200 dose"},
	{"Lansoprazole 30mg gastro-resistant capsules", "One To Be Taken Each Morning", "28 capsule"},
	{"Co-codamol 8mg/500mg effervescent tablets", "One To Be Taken Four Times A Day", "112 tablet"},
	{"Flucloxacillin 500mg capsules", "One To Be Taken Four Times A Day", "28 capsule"},
	{"Prednisolone 5mg tablets", "Six To Be Taken Each Morning For 5 Days", "30 tablet"},
	{"Bisoprolol fumarate 2.5mg tablets", "One To Be Taken Each Day", "28 tablet"},
	{"Cetirizine 10mg tablets", "One To Be Taken Each Day", "30 tablet"},
	{"Simvastatin 40mg tablets", "One To Be Taken At Night", "28 tablet"},
	{"Doxycycline 100mg capsules", "Two On The First Day Then One Daily", "8 capsule"},
	{"Naproxen 250mg tablets", "One To Be Taken Twice A Day With Food", "56 tablet"},
}

var childMedicines = []medicine{
	{"Paracetamol 120mg/5ml oral suspension sugar free", "One 5ml Spoonful Every 4 To 6 Hours When Necessary. No More Than 4 doses in 24 Hours", "100 ml"},
	{"Paracetamol 250mg/5ml oral suspension", "One 5ml Spoonful Every 4 To 6 Hours When Necessary. No More Than 4 doses in 24 Hours", "40 ml"},
	{"Amoxicillin 250mg/5ml oral suspension sugar free", "One 5ml Spoonful Three Times A Day", "100 ml"},
	{"Ibuprofen 100mg/5ml oral suspension sugar free", "One 5ml Spoonful Three Times A Day With Food", "100 ml"},
	{"Salbutamol 100micrograms/dose inhaler CFC free", "Two Puffs When Required Via Spacer", "200 dose"},
	{"Cetirizine 1mg/ml oral solution sugar free", "5ml To Be Taken Each Day", "200 ml"},
	{"Emollient cream", "Apply Twice A Day", "500 gram"},
}

var authors = []string{"SMITH, Sean (Mr)", "PATEL, Anika (Dr)", "JONES, Gareth (Dr)", "OKAFOR, Ngozi (Dr)", "WILLIAMS, Rhian (Mrs)", "KHAN, Imran (Dr)"}
