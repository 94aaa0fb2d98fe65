//! What customers and agents write, by topic and by voice: English; Hindi and Bengali in
//! their own scripts; Hindi and Bengali in Latin letters, as South Asian customers type them
//! on a phone. `{order}`, `{product}`, `{tracking}` and `{subject}` are filled from the
//! customer's own records.

/// How a customer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Voice {
    English,
    Hindi,
    Bengali,
    RomanHindi,
    RomanBengali,
}

impl Voice {
    /// The share of customers who write so, out of 100.
    pub(super) const WEIGHTS: [(Self, u32); 5] = [
        (Self::English, 40),
        (Self::Hindi, 20),
        (Self::Bengali, 15),
        (Self::RomanHindi, 15),
        (Self::RomanBengali, 10),
    ];

    fn at(self) -> usize {
        self as usize
    }
}

/// What a conversation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Topic {
    Late,
    Payment,
    Damaged,
    Refund,
    Other,
}

/// A customer's first message, by topic, by voice (in [`Voice`]'s order); two ways each.
const OPENING: [[[&str; 2]; 5]; 5] = [
    // Late.
    [
        [
            "Hi, my order {order} ({product}) still hasn't arrived. Tracking {tracking} hasn't moved for days.",
            "Where is my parcel? Order {order}, tracking number {tracking}.",
        ],
        [
            "नमस्ते, मेरा ऑर्डर {order} ({product}) अभी तक नहीं आया। ट्रैकिंग नंबर {tracking} कई दिनों से अपडेट नहीं हुआ।",
            "मेरा पार्सल कहाँ है? ऑर्डर {order}, ट्रैकिंग {tracking}।",
        ],
        [
            "নমস্কার, আমার অর্ডার {order} ({product}) এখনও আসেনি। ট্র্যাকিং নম্বর {tracking} কয়েক দিন ধরে আপডেট হয়নি।",
            "আমার পার্সেল কোথায়? অর্ডার {order}, ট্র্যাকিং {tracking}।",
        ],
        [
            "Hello, mera order {order} abhi tak nahi aaya. {product} ka tracking {tracking} kai dino se update nahi hua.",
            "bhai mera parcel kahan hai? order {order}, tracking {tracking}",
        ],
        [
            "Namaskar, amar order {order} ekhono asheni. {product} er tracking {tracking} kodin dhore update hoyni.",
            "amar parcel kothay? order {order}, tracking {tracking}",
        ],
    ],
    // Payment.
    [
        [
            "My payment for order {order} was declined, but my card works everywhere else.",
            "Why was my card refused for order {order}?",
        ],
        [
            "ऑर्डर {order} का भुगतान फेल हो गया, पर मेरा कार्ड बाकी जगह चलता है।",
            "ऑर्डर {order} के लिए मेरा कार्ड क्यों अस्वीकार हुआ?",
        ],
        [
            "অর্ডার {order} এর পেমেন্ট ব্যর্থ হয়েছে, কিন্তু আমার কার্ড অন্য সব জায়গায় চলে।",
            "অর্ডার {order} এর জন্য আমার কার্ড কেন বাতিল হল?",
        ],
        [
            "order {order} ka payment fail ho gaya, card to sahi hai",
            "mera card order {order} ke liye kyun decline hua?",
        ],
        [
            "order {order} er payment fail hoyeche, amar card to thik ache",
            "order {order} e amar card keno decline holo?",
        ],
    ],
    // Damaged.
    [
        [
            "The {product} from order {order} arrived damaged and doesn't work.",
            "Order {order}: the {product} is broken, the box was crushed.",
        ],
        [
            "ऑर्डर {order} का {product} टूटा हुआ आया है और चल नहीं रहा।",
            "ऑर्डर {order}: {product} ख़राब निकला, डिब्बा भी दबा हुआ था।",
        ],
        [
            "অর্ডার {order} এর {product} ভাঙা অবস্থায় এসেছে, কাজ করছে না।",
            "অর্ডার {order}: {product} খারাপ, বাক্সটাও চাপা ছিল।",
        ],
        [
            "order {order} ka {product} toota hua aaya hai, chal nahi raha",
            "order {order} ka {product} kharab nikla, dabba bhi daba hua tha",
        ],
        [
            "order {order} er {product} bhanga obosthay esheche, kaj korche na",
            "order {order} er {product} kharap, baksho ta o chapa chilo",
        ],
    ],
    // Refund.
    [
        [
            "I returned the {product} (order {order}) two weeks ago and the refund still isn't on my card.",
            "Refund for order {order} not received yet.",
        ],
        [
            "मैंने ऑर्डर {order} का {product} दो हफ़्ते पहले लौटाया था, रिफ़ंड अभी तक नहीं मिला।",
            "ऑर्डर {order} का रिफ़ंड अभी तक नहीं आया।",
        ],
        [
            "অর্ডার {order} এর {product} দুই সপ্তাহ আগে ফেরত দিয়েছি, রিফান্ড এখনও পাইনি।",
            "অর্ডার {order} এর রিফান্ড এখনও আসেনি।",
        ],
        [
            "order {order} ka {product} do hafte pehle return kiya tha, refund abhi tak nahi mila",
            "order {order} ka refund kab aayega?",
        ],
        [
            "order {order} er {product} dui saptaho age ferot diyechi, refund ekhono paini",
            "order {order} er refund kobe asbe?",
        ],
    ],
    // Other.
    [
        [
            "Hello, I need help with this: {subject}.",
            "{subject} — can you help?",
        ],
        ["नमस्ते, मुझे मदद चाहिए: {subject}।", "{subject} — कृपया मदद करें।"],
        [
            "নমস্কার, আমার একটু সাহায্য দরকার: {subject}।",
            "{subject} — দয়া করে সাহায্য করুন।",
        ],
        [
            "Hello, mujhe help chahiye: {subject}",
            "{subject} - please help kijiye",
        ],
        [
            "Hello, amar ektu help dorkar: {subject}",
            "{subject} - ektu help korun please",
        ],
    ],
];

/// An agent's answer, by topic, by voice.
const ANSWER: [[&str; 5]; 5] = [
    [
        "Sorry for the wait. I've asked the carrier about {tracking} and will update you within 24 hours.",
        "देरी के लिए क्षमा करें। मैंने {tracking} के बारे में कूरियर से पूछा है, 24 घंटे में जानकारी दूँगा।",
        "দেরির জন্য দুঃখিত। {tracking} নিয়ে কুরিয়ারের সঙ্গে কথা বলেছি, ২৪ ঘণ্টার মধ্যে জানাব।",
        "Deri ke liye sorry. Maine courier se {tracking} ke baare mein poocha hai, 24 ghante mein batata hoon.",
        "Deri r jonno dukkhito. Courier er sathe {tracking} niye kotha bolechi, 24 ghontar moddhe janabo.",
    ],
    [
        "The bank declined the charge for order {order}. Please update your payment method and we'll retry.",
        "बैंक ने ऑर्डर {order} का भुगतान अस्वीकार किया। कृपया भुगतान का तरीका बदलें, हम फिर से कोशिश करेंगे।",
        "ব্যাংক অর্ডার {order} এর পেমেন্ট বাতিল করেছে। দয়া করে পেমেন্টের পদ্ধতি বদলান, আমরা আবার চেষ্টা করব।",
        "Bank ne order {order} ka payment decline kiya. Payment method badal dijiye, hum dobara try karenge.",
        "Bank order {order} er payment decline koreche. Payment method bodle din, amra abar try korbo.",
    ],
    [
        "I'm sorry the {product} arrived damaged. I've started a return for order {order}; a replacement ships once the carrier collects it.",
        "माफ़ कीजिए। मैंने ऑर्डर {order} के {product} की वापसी शुरू कर दी है, नया सामान जल्दी भेजेंगे।",
        "দুঃখিত। অর্ডার {order} এর {product} ফেরতের ব্যবস্থা করেছি, নতুনটা শিগগিরই পাঠাব।",
        "Maaf kijiye. Order {order} ke {product} ki wapsi shuru kar di hai, naya saman jaldi bhejenge.",
        "Dukkhito. Order {order} er {product} ferot er byabostha korechi, notun ta shigghiri pathabo.",
    ],
    [
        "The refund for order {order} was issued today; it can take 3–5 working days to reach your card.",
        "ऑर्डर {order} का रिफ़ंड आज जारी कर दिया गया है, कार्ड में आने में 3–5 दिन लग सकते हैं।",
        "অর্ডার {order} এর রিফান্ড আজ পাঠানো হয়েছে, কার্ডে আসতে ৩–৫ দিন লাগতে পারে।",
        "Order {order} ka refund aaj process ho gaya, card mein aane mein 3-5 din lagenge.",
        "Order {order} er refund aaj pathano hoyeche, card e aste 3-5 din lagte pare.",
    ],
    [
        "Thanks for getting in touch. That's done for you now.",
        "संपर्क करने के लिए धन्यवाद। आपका काम हो गया है।",
        "যোগাযোগ করার জন্য ধন্যবাদ। আপনার কাজটি হয়ে গেছে।",
        "Contact karne ke liye dhanyavad. Aapka kaam ho gaya hai.",
        "Jogajog korar jonno dhonnobad. Apnar kaj ta hoye geche.",
    ],
];

/// A customer's second message, by voice: thanks, or a chase.
const FOLLOW_UP: [[&str; 2]; 5] = [
    ["Thank you!", "Any news on order {order}?"],
    ["धन्यवाद!", "ऑर्डर {order} की कोई खबर?"],
    ["ধন্যবাদ!", "অর্ডার {order} এর কোনো খবর?"],
    ["Thank you bhai!", "order {order} ka kya hua?"],
    ["Dhonnobad!", "order {order} er ki holo?"],
];

/// The agent's note, in the team's language (English), by topic.
const NOTE: [&str; 5] = [
    "Carrier confirms {tracking} is held at the depot; offered free shipping on the next order.",
    "Card declined by the issuer for order {order}; customer will update the card.",
    "Photo of the damaged {product} received; return label sent for order {order}.",
    "Refund for order {order} confirmed in the ledger.",
    "Handled: {subject}",
];

pub(super) fn opening(topic: Topic, voice: Voice, which: usize) -> &'static str {
    OPENING[topic as usize][voice.at()][which % 2]
}

pub(super) fn answer(topic: Topic, voice: Voice) -> &'static str {
    ANSWER[topic as usize][voice.at()]
}

pub(super) fn follow_up(voice: Voice, which: usize) -> &'static str {
    FOLLOW_UP[voice.at()][which % 2]
}

pub(super) fn note(topic: Topic) -> &'static str {
    NOTE[topic as usize]
}
